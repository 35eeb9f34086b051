# shellcheck shell=bash disable=SC2154,SC2034
# Shell code shared by the bench/*.sh scripts and tools/scaling.sh and tools/tutorial.sh;
# sourced, not run. The sourcing script
# sets $prog (its name, for messages) and $usage (its one-line usage) first; the functions
# below read and set the globals named in their comments (hence SC2154 and SC2034 off here).

# Print "$prog: MESSAGE" on stderr and exit 1.
die() {
    echo "$prog: $*" >&2
    exit 1
}

# Print "$prog: MESSAGE (usage: $usage)" on stderr and exit 2.
usage_error() {
    echo "$prog: $* (usage: $usage)" >&2
    exit 2
}

# Exit with a usage error unless VALUE (of option FLAG) is a positive whole number.
require_positive() { # flag value
    [[ "$2" =~ ^[1-9][0-9]*$ ]] || usage_error "$1: '$2' is not a positive whole number"
}

# --help: lines FIRST to LAST of the calling script's header comment, without the "# "; exit 0.
print_header() { # first last
    sed -n "$1,$2s/^# \{0,1\}//p" "${BASH_SOURCE[1]}"
    exit 0
}

# The one positional argument the scripts take: the build directory.
take_build_arg() { # arg
    [ -z "$build" ] || usage_error "unexpected argument '$1'"
    build=$1
}

# Die unless each program given is built (after resolve_build).
require_built() { # exe...
    local exe
    for exe in "$@"; do
        [ -x "$exe" ] || die "missing $exe: build it first (cmake --build $build)"
    done
}

# Set $build to the absolute path of $build (default: ../build next to the scripts), or die.
resolve_build() {
    build=${build:-$here/../build}
    [ -d "$build" ] || die "no build directory at $build (configure and build first:" \
        "cmake -S . -B build && cmake --build build)"
    build=$(cd "$build" && pwd)
}

# Set $tmp to a fresh temporary directory, removed when the script exits.
make_tmp() {
    tmp=$(mktemp -d)
    trap 'rm -rf "$tmp"' EXIT
}

# CPU time of the whole machine (busy, steal) and of this script's finished children, in clock
# ticks: their difference tells whether something else ran meanwhile and spoiled the timings.
cpu_ticks() {
    local busy steal mine
    read -r busy steal < <(awk '/^cpu / { print $2 + $3 + $4 + $7 + $8, $9 }' /proc/stat)
    mine=$(awk '{ sub(/^.*\) /, ""); print $12 + $13 + $14 + $15 }' "/proc/$$/stat")
    echo "$busy $steal $mine"
}

# Start the machine-load accounting (sets $busy0, $steal0, $mine0 and $t_start).
load_start() {
    read -r busy0 steal0 mine0 < <(cpu_ticks)
    t_start=$(date +%s)
}

# Set $quiet to the sentence on what else used the machine since load_start (for $cores
# cores), with a warning on stderr when that is over 2% of the machine.
load_report() {
    local busy1 steal1 mine1 wall hz other steal
    read -r busy1 steal1 mine1 < <(cpu_ticks)
    wall=$(($(date +%s) - t_start))
    hz=$(getconf CLK_TCK)
    other=$(awk -v b=$((busy1 - busy0)) -v m=$((mine1 - mine0)) -v hz="$hz" \
        'BEGIN { x = (b - m) / hz; printf "%.1f", x < 0 ? 0 : x }')
    steal=$(awk -v s=$((steal1 - steal0)) -v hz="$hz" 'BEGIN { printf "%.1f", s / hz }')
    quiet="other processes used ${other} CPU-s and the hypervisor stole ${steal} CPU-s in ${wall} s"
    if awk -v o="$other" -v s="$steal" -v w="$wall" -v c="$cores" \
        'BEGIN { exit !(o + s > 0.02 * w * c) }'; then
        quiet="NOT QUIET: $quiet (over 2% of the machine: timings are suspect)"
        echo "$prog: warning: $quiet" >&2
    fi
}

# Run "$dusk ARGS..." once as a trial and set $probed (its CPU worker count) and $sched (its
# scheduler) from its output, or die.
probe_dusk() { # dusk-eigh args...
    "$dusk" "$@" >"$tmp/probe" 2>&1 ||
        die "dusk-eigh failed on a trial run: $(cat "$tmp/probe")"
    probed=$(sed -n 's/.*, \([0-9][0-9]*\) CPU workers, sched=\([^,]*\),.*/\1/p' "$tmp/probe")
    sched=$(sed -n 's/.*, [0-9][0-9]* CPU workers, sched=\([^,]*\),.*/\1/p' "$tmp/probe")
    [ -n "$probed" ] || die "cannot read the worker count from dusk-eigh's output: $(cat "$tmp/probe")"
}

# Print the seconds X of a "Processed T tasks in X s (...)" line of FILE ("1 task" when T is 1;
# nothing if none).
summary_seconds() { # file
    sed -n 's/^Processed [0-9]* tasks\{0,1\} in \([0-9.]*\) s .*/\1/p' "$1"
}

# The time now, in seconds since the epoch (with nanoseconds).
now() { date +%s.%N; }

# The largest of the numbers given.
largest() { printf '%s\n' "$@" | sort -g | tail -n 1; }

# "K" when every run chose K, "K1-K2" when they differed.
chunk_range() {
    local lo hi
    lo=$(printf '%s\n' "$@" | sort -n | head -n 1)
    hi=$(printf '%s\n' "$@" | sort -n | tail -n 1)
    [ "$lo" = "$hi" ] && echo "$lo" || echo "$lo–$hi"
}

# Print the median of the numbers given (the mean of the middle two, to 3 decimals, if even).
median() {
    printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 }
        END { if (NR % 2) print v[(NR + 1) / 2]; else printf "%.3f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# Set $starpu (its version), $date (today) and $machine (CPU model, $cores cores, memory).
describe_machine() {
    local cpu mem_total
    cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)
    mem_total=$(awk '/^MemTotal:/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo)
    starpu=$(sed -n 's/^STARPU_VERSION:INTERNAL=//p' "$build/CMakeCache.txt" 2>/dev/null || true)
    [ -n "$starpu" ] || starpu=$(pkg-config --modversion starpu-1.3 2>/dev/null || echo unknown)
    date=$(date +%Y-%m-%d)
    machine="$cpu, $cores cores, $mem_total"
}

# Print ENTRY on stdout without its <!-- ... --> marker lines, after a blank line.
print_entry() { # entry
    echo
    echo "$1" | grep -v '^<!--'
}

# Print every "<!-- TAG-entry ... -->" ... "<!-- /TAG-entry -->" entry of FILE, each followed
# by a blank line, except the one for $machine and $date (which this run replaces).
other_entries() { # tag file
    awk -v key="<!-- $1-entry machine=\"$machine\" date=\"$date\" -->" -v tag="$1" '
        index($0, "<!-- " tag "-entry ") == 1 { keep = ($0 != key); inside = 1 }
        inside && keep { print }
        index($0, "<!-- /" tag "-entry -->") == 1 { if (inside && keep) print ""; inside = 0 }
    ' "$2"
}

# Write SRC to $results with runs of blank lines squeezed to one and none at either end, and
# say so.
write_results() { # src
    awk '$0 == "" { blank = 1; next } { if (blank && out) print ""; blank = 0; print; out = 1 }' \
        "$1" >"$results"
    echo
    echo "updated $results"
}
