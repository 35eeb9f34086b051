# shellcheck shell=bash
# What the shell tests share with tests/runlib.py (sourced): the tools that
# `tools/quickstart.sh test` installs are required under CI, and a run is signalled only once
# its manifest shows it under way.

# Whether CI is set (.ci/run sets it): a missing tool then fails the test instead of skipping.
under_ci() {
    case "$(printf '%s' "${CI:-}" | tr '[:upper:]' '[:lower:]')" in
    "" | 0 | false | no) return 1 ;;
    *) return 0 ;;
    esac
}

# need COMMAND PACKAGE [WHAT]: returns when COMMAND is installed; else skips the test (exit 77)
# or, under CI, fails it: PACKAGE is one that tools/quickstart.sh test installs.
need() {
    command -v "$1" >/dev/null && return 0
    if under_ci; then
        echo "FAIL: ${3:-$1} is missing (Debian: $2; tools/quickstart.sh test installs it), and CI is set: not skipped"
        exit 1
    fi
    echo "${3:-$1} is missing (Debian: $2): skipped"
    exit 77
}

# done_count DIR: the tasks its manifest lists as done (0 without one); state_of DIR: its state
done_count() {
    local n
    n=$(sed -n 's/^done \([0-9]*\)$/\1/p' "$1/manifest.txt" 2>/dev/null | head -n 1)
    echo "${n:-0}"
}
state_of() { sed -n 's/^state //p' "$1/manifest.txt" 2>/dev/null | head -n 1; }

# wait_under_way PID DIR WHAT [MORE]: returns once the run PID writes to DIR lists more than
# MORE (0) tasks done in its manifest and is not finished (DIR holds no earlier run's, or
# MORE is its count). When it ended first, or shows no
# progress within 120 s, the test fails at once with the reason (a test that cannot provoke
# what it checks must not pass).
wait_under_way() {
    local pid=$1 dir=$2 what=$3 more=${4:-0} end=$((SECONDS + 120)) text done state
    while [ $SECONDS -lt $end ]; do
        # one reading of the manifest for both fields (it is replaced whole, by a rename)
        text=$(cat "$dir/manifest.txt" 2>/dev/null)
        done=$(sed -n 's/^done \([0-9]*\)$/\1/p' <<<"$text" | head -n 1)
        state=$(sed -n 's/^state //p' <<<"$text" | head -n 1)
        if ! kill -0 "$pid" 2>/dev/null || [ "$state" = finished ]; then
            echo "FAIL: $what: the run ended (${done:-0} done, state '$state') before it was seen under way: too short on this machine to be stopped mid-run"
            exit 1
        fi
        [ "${done:-0}" -gt "$more" ] && return 0
        sleep 0.02
    done
    kill -9 "$pid" 2>/dev/null
    echo "FAIL: $what: no more than $more tasks done after 120 s: killed"
    exit 1
}

# check WHAT COMMAND...: prints "ok: WHAT" when COMMAND succeeds, else "FAIL: WHAT" and adds
# one to $fails (the test's count of failed checks, which it sets to 0 first).
check() {
    local what=$1
    shift
    if "$@"; then
        echo "ok: $what"
    else
        echo "FAIL: $what"
        fails=$((fails + 1))
    fi
}

