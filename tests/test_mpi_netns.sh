#!/bin/bash
# dusk-eigh across two "hosts" on one machine: two network namespaces joined by a veth link,
# each with its own address, named in /etc/hosts; mpirun runs in the first and starts the
# ranks of the second through a launch agent that enters it (ip netns exec), so ranks talk
# TCP over a real network stack (btl tcp, restricted to that subnet), not shared memory.
# The outputs of -np 3 (2 + 1 ranks) must be byte for byte those of one process.
# Namespaces, the link and the /etc/hosts lines are removed on every exit (trap).
# Usage: test_mpi_netns.sh PATH/TO/dusk-eigh   (exit 77 when namespaces cannot be made: not
# root, no iproute2, or no permission; or without mpirun or StarPU-MPI)
set -u
app=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/mpi_common.sh
. "$here/mpi_common.sh"
need ip iproute2 # (runlib.sh, from mpi_common.sh)
[ "$(id -u)" -eq 0 ] || { echo "network namespaces need root: skipped"; exit 77; }

tag=dusk$$
h1=${tag}a h2=${tag}b
net=10.$((200 + $$ % 50)).$(($$ % 250)).
subnet=${net}0/24
tmp=$(mktemp -d)
cleanup() {
    ip netns del "$h1" 2>/dev/null
    ip netns del "$h2" 2>/dev/null # deleting a namespace removes its end of the link
    if grep -q "# $tag\$" /etc/hosts; then
        # /etc/hosts may be a bind mount (containers): rewrite it in place, never replace it
        grep -v "# $tag\$" /etc/hosts >"$tmp/hosts" && cat "$tmp/hosts" >/etc/hosts
    fi
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM
skip_without_mpi "$app" "$tmp"

if ! { ip netns add "$h1" && ip netns add "$h2" &&
    ip link add "${tag}x" netns "$h1" type veth peer name "${tag}y" netns "$h2" &&
    ip -n "$h1" addr add "${net}1/24" dev "${tag}x" && ip -n "$h2" addr add "${net}2/24" dev "${tag}y" &&
    ip -n "$h1" link set "${tag}x" up && ip -n "$h2" link set "${tag}y" up &&
    ip -n "$h1" link set lo up && ip -n "$h2" link set lo up; } 2>"$tmp/ip.err"; then
    echo "cannot make network namespaces here: $(head -1 "$tmp/ip.err"): skipped"
    exit 77
fi
printf '%s %s # %s\n%s %s # %s\n' "${net}1" "$h1" "$tag" "${net}2" "$h2" "$tag" >>/etc/hosts

cat >"$tmp/agent.sh" <<'SH'
#!/bin/sh
# Open MPI's launch agent: "agent HOST COMMAND..." runs COMMAND inside namespace HOST.
host=$1
shift
exec ip netns exec "$host" sh -c "$*"
SH
chmod +x "$tmp/agent.sh"
printf '%s slots=2\n%s slots=1\n' "$h1" "$h2" >"$tmp/hostfile"

args=(-n 48 --ntasks 7 --vectors --verify --no-progress)
"$app" "${args[@]}" --output "$tmp/ref" >"$tmp/ref.out" 2>&1
check "single-process reference run" [ $? -eq 0 ]

export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
timeout 240 ip netns exec "$h1" "${mpirun[@]}" -np 3 --hostfile "$tmp/hostfile" \
    --mca plm_rsh_agent "$tmp/agent.sh" --mca btl tcp,self \
    --mca btl_tcp_if_include "$subnet" --mca oob_tcp_if_include "$subnet" \
    -x PATH -x LD_LIBRARY_PATH \
    sh -c 'echo "rank $OMPI_COMM_WORLD_RANK on $(ip -o -4 addr show | grep -o "10\.[0-9.]*/24")" >&2; exec "$@"' \
    rank "$app" "${args[@]}" --output "$tmp/out" >"$tmp/out.out" 2>"$tmp/out.err"
rc=$?
check "-np 3 over two namespaces: exit 0 (got $rc)" [ $rc -eq 0 ]
check "ranks ran in both namespaces" grep -q "on ${net}2/24" "$tmp/out.err"
check "ranks ran in both namespaces (first)" grep -q "on ${net}1/24" "$tmp/out.err"
check "summary names 3 ranks" grep -q "^Processed 7 tasks in .* on 3 ranks$" "$tmp/out.out"
check "eigenvalues byte-identical to one process" \
    cmp -s "$tmp/ref/eigenvalues.npy" "$tmp/out/eigenvalues.npy"
check "eigenvectors byte-identical to one process" \
    cmp -s "$tmp/ref/eigenvectors.npy" "$tmp/out/eigenvectors.npy"
[ $rc -eq 0 ] || { sed 's/^/    err: /' "$tmp/out.err"; sed 's/^/    out: /' "$tmp/out.out"; }

[ $fails -eq 0 ] || { echo "$fails check(s) failed"; exit 1; }
echo "all checks passed"
