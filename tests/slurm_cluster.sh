#!/bin/bash
# A one-machine Slurm for the tests: munged (with a key of its own), slurmctld and slurmd, as
# root, with the configuration, state, spool, sockets and logs all under one directory, so
# that it leaves the machine's own Slurm and munge (if any) alone.
#
#   tests/slurm_cluster.sh start DIR [--owner PID]
#       DIR must not exist or be empty. Starts the daemons, waits until `sinfo` shows the node
#       idle, and prints the one line to use it: export SLURM_CONF=DIR/slurm.conf.
#       --owner PID: stop the cluster (as `stop` does) once process PID has gone, so that a
#       test killed by its time limit leaves no daemon behind.
#   tests/slurm_cluster.sh stop DIR
#       cancels the cluster's jobs, stops the processes `start` recorded (by their ids, never
#       by name: another Slurm may run here) and any of its job steps still running, then
#       removes DIR.
#
# The node is this machine (`slurmd -C`: its CPUs, cores and memory), in one partition
# `debug`; cons_tres with CR_Core, so that -c and --cpu-bind=cores give each task cores of
# its own; ProctrackType=proctrack/linuxproc and TaskPlugin=task/affinity (no cgroups);
# KillWait=5 (scancel's SIGKILL comes 5 s after SIGTERM); MpiDefault=pmix when srun has it.
#
# Exit: 0 done; 77 Slurm cannot start here, for a reason said in one line (not root; the
# slurm-wlm or munge package missing outside CI: under CI, where the test command installs
# them, that is a failure, exit 1); 1 failure (with the daemons' log tails); 2 bad usage.
set -uo pipefail

die() {
    echo "slurm_cluster: $*" >&2
    exit 1
}
usage() {
    echo "usage: $0 start DIR [--owner PID] | stop DIR" >&2
    exit 2
}
[ $# -ge 2 ] || usage
cmd=$1 dir=$2
shift 2

# The job steps (slurmstepd) of this cluster, which hold its slurmd log open, and their
# tasks; nothing of another Slurm.
steps_in() { # DIR
    local f pid
    while read -r f; do
        pid=${f#/proc/}
        pid=${pid%/comm}
        if find "/proc/$pid/fd" -maxdepth 1 -lname "$1/*" 2>/dev/null | grep -q .; then
            echo "$pid"
            pgrep -P "$pid"
        fi
    done < <(grep -lx slurmstepd /proc/[0-9]*/comm 2>/dev/null)
}

# The pid recorded in DIR/pids/NAME, when that process is still the daemon it was.
recorded() { # NAME
    local pid
    pid=$(cat "$dir/pids/$1" 2>/dev/null) || return 1
    [ -n "$pid" ] && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$1" ] && echo "$pid"
}

stop_pids() { # seconds pid...: SIGTERM, then SIGKILL for those left after the seconds
    local wait=$1 pid left t
    shift
    [ $# -gt 0 ] || return 0
    kill -TERM "$@" 2>/dev/null
    for ((t = 0; t < wait * 10; t++)); do
        left=0
        for pid in "$@"; do kill -0 "$pid" 2>/dev/null && left=1; done
        [ $left -eq 0 ] && return 0
        sleep 0.1
    done
    kill -KILL "$@" 2>/dev/null
    return 0
}

stop_cluster() {
    if [ ! -f "$dir/slurm.conf" ] || [ ! -d "$dir/pids" ]; then
        die "$dir holds no cluster made by '$0 start'"
    fi
    export SLURM_CONF=$dir/slurm.conf
    local t pids pid name
    # the jobs first: slurmd's steps (slurmstepd) outlive slurmd
    if recorded slurmctld >/dev/null; then
        timeout 20 scancel --quiet --full --user=root 2>/dev/null
        t=$((SECONDS + 30)) # KillWait and then some
        while [ $SECONDS -lt $t ] && [ -n "$(timeout 10 squeue -h -o %i 2>/dev/null)" ]; do
            sleep 0.1
        done
    fi
    local watchdog
    watchdog=$(cat "$dir/pids/watchdog" 2>/dev/null)
    # (while that pid is still a watchdog: a copy of this script started with --owner)
    if [ -n "$watchdog" ] && [ "$watchdog" != "${DUSK_SLURM_WATCHDOG:-}" ] &&
        tr '\0' ' ' <"/proc/$watchdog/cmdline" 2>/dev/null | grep -q -- "slurm_cluster.sh start .* --owner "; then
        kill "$watchdog" 2>/dev/null
    fi
    pids=()
    for name in slurmd slurmctld; do
        pid=$(recorded $name) && pids+=("$pid")
    done
    stop_pids 10 "${pids[@]}"
    # job steps that outlived their jobs, and their tasks
    mapfile -t pids < <(steps_in "$dir")
    stop_pids 5 "${pids[@]}"
    pids=()
    pid=$(recorded munged) && pids+=("$pid")
    stop_pids 5 "${pids[@]}"
    rm -rf "$dir"
}

skip() {
    echo "Slurm cannot start here: $*: skipped"
    exit 77
}

start_cluster() {
    local owner=""
    while [ $# -gt 0 ]; do
        case "$1" in
        --owner) [ $# -ge 2 ] || usage && owner=$2 && shift 2 ;;
        *) usage ;;
        esac
    done
    [ "$(id -u)" -eq 0 ] || skip "not root (slurmd runs jobs as their users; tests run it as root)"
    local missing=() p
    for p in munged mungekey slurmctld slurmd srun sbatch sinfo squeue scancel; do
        command -v "$p" >/dev/null || [ -x "/usr/sbin/$p" ] || missing+=("$p")
    done
    if [ ${#missing[@]} -gt 0 ]; then
        if [ -n "${CI:-}" ]; then
            die "missing ${missing[*]} under CI, where tools/quickstart.sh installs slurm-wlm and munge"
        fi
        skip "missing ${missing[*]} (Debian: apt-get install slurm-wlm munge)"
    fi
    export PATH=$PATH:/usr/sbin
    if [ -e "$dir" ] && [ -n "$(ls -A "$dir")" ]; then die "$dir exists and is not empty"; fi
    mkdir -p "$dir" || die "cannot make $dir"
    dir=$(cd "$dir" && pwd)
    # unix sockets: 108 bytes at most, PMIx's under the spool directory included
    [ ${#dir} -le 60 ] || die "$dir: too long a path for the daemons' sockets (60 bytes at most)"
    chmod 755 "$dir"
    mkdir -p "$dir/pids" "$dir/munge" "$dir/state" "$dir/spool" "$dir/log"
    chmod 700 "$dir/munge"
    trap 'stop_cluster >/dev/null 2>&1' EXIT # until the node is up: a failed start stops it all

    # ---- munge: a key of its own, its own socket -----------------------------------------
    mungekey --create --keyfile="$dir/munge/munge.key" >/dev/null 2>&1 ||
        dd if=/dev/urandom of="$dir/munge/munge.key" bs=1024 count=1 2>/dev/null ||
        die "cannot make a munge key"
    chmod 400 "$dir/munge/munge.key"
    local sock=$dir/munge/munge.socket
    munged --foreground --force --socket="$sock" --key-file="$dir/munge/munge.key" \
        --pid-file="$dir/munge/munged.pid" --log-file="$dir/log/munged.log" \
        --seed-file="$dir/munge/munged.seed" </dev/null >>"$dir/log/munged.out" 2>&1 &
    echo $! >"$dir/pids/munged"
    local t
    for ((t = 0; t < 100; t++)); do
        [ -S "$sock" ] && munge --socket="$sock" -n 2>/dev/null | unmunge --socket="$sock" \
            >/dev/null 2>&1 && break
        recorded munged >/dev/null || break
        sleep 0.1
    done
    if ! munge --socket="$sock" -n 2>/dev/null | unmunge --socket="$sock" >/dev/null 2>&1; then
        tail -n 5 "$dir/log/munged.log" "$dir/log/munged.out" >&2 2>/dev/null
        die "munged did not start (log above)"
    fi

    # ---- slurm.conf ----------------------------------------------------------------------
    local node host ports ctl_port d_port
    node=$(slurmd -C 2>/dev/null | head -n 1)
    [[ "$node" == NodeName=* ]] || die "slurmd -C gave no node line: $node"
    host=${node#NodeName=}
    host=${host%% *}
    # two free TCP ports next to each other, away from the usual 6817/6818
    for ((t = 0; t < 50; t++)); do
        ctl_port=$((20000 + RANDOM % 30000))
        d_port=$((ctl_port + 1))
        ports=$(ss -Htln "( sport = :$ctl_port or sport = :$d_port )" 2>/dev/null | wc -l)
        [ "$ports" -eq 0 ] && break
    done
    local mpi=none
    write_conf() {
        cat >"$dir/slurm.conf" <<EOF
# A one-machine Slurm for dusk's tests (tests/slurm_cluster.sh); everything under $dir.
ClusterName=dusktest
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=$ctl_port
SlurmdPort=$d_port
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$sock
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool/slurmd-%n
SlurmctldPidFile=$dir/state/slurmctld.pid
SlurmdPidFile=$dir/spool/slurmd-%n.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
PlugStackConfig=$dir/plugstack.conf
ProctrackType=proctrack/linuxproc
TaskPlugin=task/affinity
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
MpiDefault=$mpi
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SwitchType=switch/none
ReturnToService=2
KillWait=5
InactiveLimit=0
MinJobAge=600
SlurmctldTimeout=30
SlurmdTimeout=30
MessageTimeout=30
$node State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP
EOF
    }
    : >"$dir/plugstack.conf"
    # srun's PMIx plugin makes a directory per step for its clients, by default
    # /tmp/spmix_appdir_UID_JOB.STEP: one left by a cluster that died would refuse that step
    # of the next (job ids start at 1 again)
    mkdir -p "$dir/pmix"
    echo "PMIxCliTmpDirBase=$dir/pmix" >"$dir/mpi.conf"
    write_conf
    export SLURM_CONF=$dir/slurm.conf
    if srun --mpi=list 2>&1 | grep -qw pmix; then
        mpi=pmix
        write_conf
    fi

    # ---- the daemons -------------------------------------------------------------------------
    slurmctld -D -c </dev/null >>"$dir/log/slurmctld.out" 2>&1 &
    echo $! >"$dir/pids/slurmctld"
    slurmd -D </dev/null >>"$dir/log/slurmd.out" 2>&1 &
    echo $! >"$dir/pids/slurmd"
    local state=""
    for ((t = 0; t < 600; t++)); do
        state=$(sinfo -h -N -o %T 2>/dev/null | head -n 1)
        [ "$state" = idle ] && break
        if ! recorded slurmctld >/dev/null || ! recorded slurmd >/dev/null; then break; fi
        sleep 0.1
    done
    if [ "$state" != idle ]; then
        for log in slurmctld.log slurmctld.out slurmd.log slurmd.out; do
            [ -s "$dir/log/$log" ] && echo "--- $log" >&2 && tail -n 8 "$dir/log/$log" >&2
        done
        die "the node did not come up idle (sinfo: '${state:-nothing}'; logs above)"
    fi
    trap - EXIT
    if [ -n "$owner" ]; then
        # stops the cluster once the owner has gone (killed by a time limit, say)
        (
            exec </dev/null >/dev/null 2>&1
            while kill -0 "$owner" 2>/dev/null; do sleep 1; done
            DUSK_SLURM_WATCHDOG=$BASHPID bash "$0" stop "$dir"
        ) &
        echo $! >"$dir/pids/watchdog"
    fi
    echo "export SLURM_CONF=$dir/slurm.conf"
}

case "$cmd" in
start) start_cluster "$@" ;;
stop)
    [ $# -eq 0 ] || usage
    [ -d "$dir" ] || die "no directory $dir"
    dir=$(cd "$dir" && pwd)
    stop_cluster
    ;;
*) usage ;;
esac
