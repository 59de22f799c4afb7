#!/usr/bin/env bash
# A private single-node SLURM cluster for the tests (tests/cli/test_slurm.sh).
# stop-slurm.sh WORKDIR [--purge] -- stop the private cluster started by
# start-slurm.sh WORKDIR.  Idempotent: a cluster that is not running (or a
# WORKDIR that does not exist) is fine.
#
# 1. If slurmctld and a slurmd are up: scancel every job and wait (<= 15 s) for
#    the jobs to leave the queue and their slurmstepd processes to exit.
# 2. If slurmstepd processes of this cluster are still there (slurmd crashed,
#    or a step would not die): kill them and all their descendants (the job's
#    tasks), found by PID: a slurmstepd belongs to this cluster when its
#    environment holds SLURM_CONF=WORKDIR/etc/slurm.conf (slurmd passes it on).
#    Tasks get SIGTERM, SIGKILL after 2 s; slurmstepd ignores SIGTERM by
#    design, so it gets SIGKILL.
# 3. slurmd(s), slurmctld and slurmdbd, then munged and mariadbd, by the PIDs
#    in their pid files, only if that PID still runs the expected program with
#    WORKDIR on its command line (a recycled PID is never hit).  Each group gets
#    SIGTERM at once (each daemon needs ~2 s to exit), SIGKILL after 10/20 s.
# --purge also removes WORKDIR.
set -uo pipefail

say() { echo "stop-slurm: $*" >&2; }
[ $# -ge 1 ] || { echo "usage: $0 WORKDIR [--purge]" >&2; exit 1; }
[ -d "$1" ] || { say "no $1, nothing to stop"; exit 0; }
W=$(cd "$1" && pwd -P)
PURGE=${2:-}
CONF=$W/etc/slurm.conf
export SLURM_CONF=$CONF

# alive PID: exists and is not a zombie (kill -0 succeeds on zombies, and PID 1
# here reaps orphans only now and then)
alive() {
    local st
    st=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) || return 1
    [ -n "$st" ] && [ "$st" != Z ] && [ "$st" != X ]
}

# our_pid PIDFILE COMM -> prints the pid if it is alive, runs COMM and belongs
# to this cluster: WORKDIR on its command line, or (slurmdbd, which has no -f
# option) SLURM_CONF=WORKDIR/etc/slurm.conf in its environment
our_pid() {
    local pf=$1 name=$2 pid
    [ -s "$pf" ] || return 1
    pid=$(tr -dc '0-9' < "$pf")
    [ -n "$pid" ] && alive "$pid" || return 1
    [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$name" ] || return 1
    # (no "tr | grep -q" here: with pipefail an early grep exit can SIGPIPE tr)
    grep -qF "$W" <(tr '\0' ' ' < "/proc/$pid/cmdline" 2>/dev/null) \
        || grep -qxF "SLURM_CONF=$CONF" <(tr '\0' '\n' < "/proc/$pid/environ" 2>/dev/null) \
        || return 1
    echo "$pid"
}

# slurmstepd processes of this cluster
stepd_pids() {
    local d p
    for d in /proc/[0-9]*; do
        p=${d#/proc/}
        [ "$(cat "$d/comm" 2>/dev/null)" = slurmstepd ] || continue
        alive "$p" || continue
        grep -qxF "SLURM_CONF=$CONF" <(tr '\0' '\n' < "$d/environ" 2>/dev/null) && echo "$p"
    done
}

# descendants ROOT...: all live descendants of the given PIDs (not the roots)
descendants() {
    ps -e -o pid=,ppid=,stat= | awk -v roots="$*" '
        BEGIN { n = split(roots, r, " "); for (i = 1; i <= n; i++) keep[r[i]] = 1 }
        $3 !~ /^Z/ { par[$1] = $2; all[$1] = 1 }
        END {
            do { changed = 0
                 for (p in all) if (!(p in keep) && (par[p] in keep)) { keep[p] = 1; changed = 1 }
            } while (changed)
            for (i = 1; i <= n; i++) delete keep[r[i]]
            for (p in keep) print p
        }'
}

# stop_pids SIGNAL SECONDS "PID:LABEL ...": send SIGNAL to all, wait up to
# SECONDS for them to exit, then SIGKILL
stop_pids() {
    local sig=$1 secs=$2 item pid left
    shift 2
    for item in "$@"; do kill "-$sig" "${item%%:*}" 2>/dev/null || true; done
    for _ in $(seq 1 $((secs * 10))); do
        left=""
        for item in "$@"; do alive "${item%%:*}" && left="$left $item"; done
        [ -z "$left" ] && break
        sleep 0.1
    done
    for item in "$@"; do
        pid=${item%%:*}
        if alive "$pid"; then
            say "${item#*:} (pid $pid) still alive ${secs} s after SIG$sig; sending SIGKILL"
            kill -KILL "$pid" 2>/dev/null || true
        else
            say "stopped ${item#*:} (pid $pid)"
        fi
    done
}

CTLD=$(our_pid "$W/run/slurmctld.pid" slurmctld || true)
SLURMD=""        # one slurmd per (emulated) node: run/slurmd-<node>.pid
for pf in "$W"/run/slurmd-*.pid; do
    [ -e "$pf" ] || continue
    p=$(our_pid "$pf" slurmd || true)
    [ -n "$p" ] && SLURMD="$SLURMD $p"
done
MUNGED=$(our_pid "$W/munge/munged.pid" munged || true)
DBD=$(our_pid "$W/run/slurmdbd.pid" slurmdbd || true)        # SLURM_ACCOUNTING=1 only
MARIADB=$(our_pid "$W/db/mariadb.pid" mariadbd || true)       # SLURM_ACCOUNTING=1 only

# 1. cancel jobs while the controller and slurmd can still clean up
if [ -n "$CTLD" ] && [ -n "$SLURMD" ]; then
    jobs=$(squeue -h -o %A 2>/dev/null | sort -u)
    if [ -n "$jobs" ]; then
        say "cancelling jobs: $(echo "$jobs" | tr '\n' ' ')"
        # shellcheck disable=SC2086
        scancel $jobs 2>/dev/null || true
        for _ in $(seq 1 150); do
            [ -z "$(squeue -h -o %A 2>/dev/null)" ] && [ -z "$(stepd_pids)" ] && break
            sleep 0.1
        done
    fi
fi

# 2. leftover job steps: tasks get SIGTERM then SIGKILL, slurmstepd SIGKILL
STEPDS=$(stepd_pids)
if [ -n "$STEPDS" ]; then
    # shellcheck disable=SC2086
    TASKS=$(descendants $STEPDS)
    say "leftover slurmstepd: $(echo "$STEPDS" | tr '\n' ' '); their processes: $(echo "$TASKS" | tr '\n' ' ')"
    # shellcheck disable=SC2046,SC2086
    [ -n "$TASKS" ] && stop_pids TERM 2 $(for p in $TASKS; do echo "$p:task"; done)
    # shellcheck disable=SC2046,SC2086
    stop_pids KILL 2 $(for p in $STEPDS; do echo "$p:slurmstepd"; done)
fi

# 3. the daemons
daemons=""
for p in $SLURMD; do daemons="$daemons $p:slurmd"; done
[ -n "$CTLD" ] && daemons="$daemons $CTLD:slurmctld"
[ -n "$DBD" ] && daemons="$daemons $DBD:slurmdbd"
# shellcheck disable=SC2086
[ -n "$daemons" ] && stop_pids TERM 10 $daemons
# munged and MariaDB last: slurmctld/slurmdbd may still talk to them while exiting
daemons=""
[ -n "$MUNGED" ] && daemons="$daemons $MUNGED:munged"
[ -n "$MARIADB" ] && daemons="$daemons $MARIADB:mariadbd"
# shellcheck disable=SC2086
[ -n "$daemons" ] && stop_pids TERM 20 $daemons

# 4. leftovers
rm -f "$W/run/slurmctld.pid" "$W"/run/slurmd-*.pid "$W/run/slurmdbd.pid" "$W/munge/munged.pid" "$W/db/mariadb.pid"
if [ -s "$W/munge/sockdir" ]; then
    SOCKDIR=$(cat "$W/munge/sockdir")
    rm -f "$SOCKDIR/munge.socket" "$SOCKDIR/munge.socket.lock"
    case "$SOCKDIR" in /tmp/pinode-munge.*) rmdir "$SOCKDIR" 2>/dev/null || true ;; esac
    rm -f "$W/munge/sockdir"
fi
if [ "$PURGE" = "--purge" ]; then
    rm -rf "$W"
    say "removed $W"
fi
exit 0
