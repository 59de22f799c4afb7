#!/usr/bin/env bash
# A private single-node SLURM cluster for the tests (tests/cli/test_slurm.sh).
# start-slurm.sh WORKDIR -- start a private SLURM cluster on localhost
# (one node by default; SLURM_NODES=N emulates N nodes with N slurmd).
#
# Everything (munge key + socket, slurm.conf, state, spool, logs, pid files) lives
# under WORKDIR; nothing under /etc, /run or /var is read or written, and the
# system munged is not used.  Must run as root (slurmd has to be root).
# Debian 12 packages: slurmctld slurmd slurm-client munge (SLURM 22.05.8).
#
# stdout: only `export VAR=...` lines, so a caller can do
#     eval "$(start-slurm.sh /tmp/pinode-slurm)"
# The same lines are written to WORKDIR/env.sh.  Progress and errors go to stderr.
#
# Idempotent: if the cluster of WORKDIR is already up and its nodes are idle,
# it only prints the env again.  If it is half up (some daemon dead), it is
# stopped and started afresh.  A fresh start wipes WORKDIR's state, spool, run
# and tmp dirs (job ids start at 1 again); logs are appended to; other files
# (e.g. WORKDIR/jobs) are left alone.  Stop with stop-slurm.sh WORKDIR.
#
# Tunables (environment variables, all optional):
#   SLURM_NODES          number of nodes [1]; 1 -> node "localhost", N>1 -> node[1-N],
#                        each its own slurmd on port SLURMD_PORT+i-1.  With N>1, Open MPI
#                        needs OMPI_MCA_btl=^vader (printed in the env), see RECIPE.md
#   SLURM_CPUS           CPUs per node [nproc]
#   SLURM_OVERRIDE_CPUS  advertise this many CPUs per node even if the machine has fewer
#                        (SlurmdParameters=config_overrides), e.g. 8 on a 2-core box
#   SLURM_REALMEM_MB     RealMemory per node in MB [MemTotal - 1024, at least 512]
#   SLURMCTLD_PORT       [6817]   SLURMD_PORT [6818]  (must be free; use others to run
#                        two clusters side by side)
#   SLURM_PARTITION      partition name [debug]
#   SLURM_MPI_DEFAULT    MpiDefault: none | pmix  [none]
#   SLURM_MIN_JOB_AGE    MinJobAge seconds [300]; <=4 makes `sbatch --wait` poll every
#                        2 s instead of after 2, 10, 42 s..., but finished jobs then
#                        vanish from scontrol/squeue a few seconds after they end
#   SLURM_START_TIMEOUT  seconds to wait for nodes idle / warm-up job [30]
#   SLURM_WARMUP         1: run one trivial batch job before returning (slurmctld only
#                        starts scheduling batch jobs ~3 s after it started); 0: skip [1]
#   SLURM_ACCOUNTING     0: no accounting (sacct: "Slurm accounting storage is disabled";
#                        "sacct -c" works from jobcomp/filetxt) [0]
#                        1: also start a private MariaDB (WORKDIR/db, 127.0.0.1 only) and
#                        slurmdbd, so that sacct and sacctmgr work.  Needs the packages
#                        slurmdbd and mariadb-server.  Adds ~1.5 s to the start.
#   SLURM_DB_PORT        MariaDB TCP port on 127.0.0.1 [6815]
#   SLURMDBD_PORT        slurmdbd port [6816]
set -euo pipefail

die() { echo "start-slurm: ERROR: $*" >&2; exit 1; }
say() { echo "start-slurm: $*" >&2; }

[ $# -ge 1 ] || die "usage: $0 WORKDIR"
[ "$(id -u)" -eq 0 ] || die "must run as root (slurmd needs root to launch job steps)"

for c in munged munge unmunge slurmctld slurmd sinfo scontrol sbatch srun squeue scancel; do
    command -v "$c" >/dev/null 2>&1 || die "'$c' not found; install with:
    apt-get install -y --no-install-recommends slurmctld slurmd slurm-client munge"
done

mkdir -p "$1"
W=$(cd "$1" && pwd -P)
CONF=$W/etc/slurm.conf
NNODES=${SLURM_NODES:-1}
CPUS=${SLURM_CPUS:-$(nproc)}
MEMTOTAL_MB=$(awk '/^MemTotal:/ {print int($2/1024)}' /proc/meminfo)
DEF_MEM=$((MEMTOTAL_MB - 1024)); [ "$DEF_MEM" -ge 512 ] || DEF_MEM=512
REALMEM=${SLURM_REALMEM_MB:-$DEF_MEM}
CTLD_PORT=${SLURMCTLD_PORT:-6817}
SLURMD_PORT=${SLURMD_PORT:-6818}
PART=${SLURM_PARTITION:-debug}
MPI_DEFAULT=${SLURM_MPI_DEFAULT:-none}
MIN_JOB_AGE=${SLURM_MIN_JOB_AGE:-300}
START_TIMEOUT=${SLURM_START_TIMEOUT:-30}
ACCOUNTING=${SLURM_ACCOUNTING:-0}
DB_PORT=${SLURM_DB_PORT:-6815}
DBD_PORT=${SLURMDBD_PORT:-6816}
if [ "$ACCOUNTING" = 1 ]; then
    for c in slurmdbd sacctmgr mariadbd mariadb-install-db mariadb-admin mariadb; do
        command -v "$c" >/dev/null 2>&1 || die "'$c' not found; SLURM_ACCOUNTING=1 needs:
    apt-get install -y --no-install-recommends slurmdbd mariadb-server"
    done
fi

if [ "$NNODES" -eq 1 ]; then
    NODES=(localhost)
    NODESPEC=localhost
    PORTSPEC=$SLURMD_PORT
else
    NODES=()
    for i in $(seq 1 "$NNODES"); do NODES+=("node$i"); done
    NODESPEC="node[1-$NNODES]"
    PORTSPEC="[$SLURMD_PORT-$((SLURMD_PORT + NNODES - 1))]"
fi

# pid_alive PIDFILE NAME -> 0 if the pid in PIDFILE is alive (not a zombie) and runs NAME
pid_alive() {
    local pf=$1 name=$2 pid st
    [ -s "$pf" ] || return 1
    pid=$(tr -dc '0-9' < "$pf")
    [ -n "$pid" ] || return 1
    st=$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null) || return 1
    [ "$st" != Z ] || return 1
    [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$name" ]
}

# slurmd and slurmstepd put unix sockets in the spool dir: AF_UNIX paths are
# limited to 107 bytes
LONGEST=${NODES[${#NODES[@]}-1]}
SPOOL_SOCK_EXAMPLE="$W/spool/$LONGEST/${LONGEST}_4294967294.4294967294"
[ ${#SPOOL_SOCK_EXAMPLE} -le 107 ] || die "WORKDIR path too long for slurmd's unix sockets (${#SPOOL_SOCK_EXAMPLE} > 107 bytes); use a shorter WORKDIR"

# The munge socket's directory and all its ancestors must be executable by all
# (munged refuses otherwise: "Socket is inaccessible: execute permissions for
# all required on ...").  If WORKDIR does not allow that (e.g. it sits under
# pytest's 0700 tmp dirs), a private 0711 dir under /tmp holds the socket only.
ancestors_world_x() {
    local d=$1
    while [ "$d" != "/" ]; do
        [ "$(( 0$(stat -c %a "$d") & 01 ))" -ne 0 ] || return 1
        d=$(dirname "$d")
    done
}
choose_munge_sockdir() {
    if [ -s "$W/munge/sockdir" ]; then cat "$W/munge/sockdir"; return; fi
    local cand=$W/munge
    if [ ${#cand} -gt 90 ] || ! ancestors_world_x "$W"; then
        cand=$(mktemp -d /tmp/pinode-munge.XXXXXX)
        chmod 711 "$cand"
        say "WORKDIR not world-traversable or path too long; munge socket goes to $cand"
    fi
    echo "$cand" > "$W/munge/sockdir"
    echo "$cand"
}

mkdir -p "$W/munge"
chmod 711 "$W/munge"
SOCKDIR=$(choose_munge_sockdir)
SOCK=$SOCKDIR/munge.socket

print_env() {
    {
        echo "export SLURM_CONF=$CONF"
        echo "export PINODE_SLURM_WORKDIR=$W"
        echo "export PINODE_MUNGE_SOCKET=$SOCK"
        # several emulated nodes share one host name: Open MPI's shared-memory
        # BTL (vader) segments collide across them and ranks segfault
        if [ "$NNODES" -gt 1 ]; then echo "export OMPI_MCA_btl=^vader"; fi
    } > "$W/env.sh"
    cat "$W/env.sh"
}

node_states() {
    SLURM_CONF=$CONF sinfo -h -N -o '%N %T' 2>/dev/null
}
all_idle() {
    local s
    s=$(node_states) || return 1
    [ "$(echo "$s" | grep -c ' idle$')" -eq "$NNODES" ]
}
all_slurmd_alive() {
    local n
    for n in "${NODES[@]}"; do pid_alive "$W/run/slurmd-$n.pid" slurmd || return 1; done
}

# ---- already up? -----------------------------------------------------------
accounting_alive() {
    [ "$ACCOUNTING" = 1 ] || return 0
    pid_alive "$W/db/mariadb.pid" mariadbd && pid_alive "$W/run/slurmdbd.pid" slurmdbd
}
if pid_alive "$W/munge/munged.pid" munged && pid_alive "$W/run/slurmctld.pid" slurmctld \
   && all_slurmd_alive && accounting_alive && all_idle; then
    say "cluster in $W already up"
    print_env
    exit 0
fi
if compgen -G "$W/run/*.pid" >/dev/null || [ -e "$W/munge/munged.pid" ] || [ -e "$W/db/mariadb.pid" ]; then
    say "cluster in $W is half up or stale; stopping it first"
    "$(dirname "$0")/stop-slurm.sh" "$W" >&2 || true
fi

# ---- ports free? -----------------------------------------------------------
PORTS="$CTLD_PORT $(seq "$SLURMD_PORT" $((SLURMD_PORT + NNODES - 1)) | tr '\n' ' ')"
[ "$ACCOUNTING" = 1 ] && PORTS="$PORTS $DB_PORT $DBD_PORT"
for p in $PORTS; do
    if command -v ss >/dev/null 2>&1 && [ -n "$(ss -Hltn "sport = :$p")" ]; then
        die "TCP port $p is already in use (another slurmctld/slurmd?). Set SLURMCTLD_PORT/SLURMD_PORT."
    fi
done

# ---- fresh directories -----------------------------------------------------
T0=$(date +%s.%N)
rm -rf "$W/state" "$W/spool" "$W/run" "$W/tmp"
rm -f "$W/log/jobcomp.txt"    # job ids restart at 1: old completion records would alias
mkdir -p "$W/etc" "$W/state" "$W/spool" "$W/log" "$W/run" "$W/tmp"
chmod 755 "$W" "$W/etc" "$W/spool" "$W/log" "$W/run" "$W/tmp"
for n in "${NODES[@]}"; do
    mkdir -p "$W/spool/$n" "$W/tmp/$n"
    chmod 1777 "$W/tmp/$n"
done

# ---- munge -----------------------------------------------------------------
if [ ! -s "$W/munge/munge.key" ]; then
    dd if=/dev/urandom of="$W/munge/munge.key" bs=1024 count=1 status=none
fi
chmod 400 "$W/munge/munge.key"
rm -f "$SOCK" "$SOCK.lock"
munged --socket="$SOCK" \
       --key-file="$W/munge/munge.key" \
       --log-file="$W/munge/munged.log" \
       --pid-file="$W/munge/munged.pid" \
       --seed-file="$W/munge/munged.seed" \
    || die "munged failed to start: $(tail -n 3 "$W/munge/munged.log" 2>/dev/null)"
munge -n -S "$SOCK" | unmunge -S "$SOCK" >/dev/null \
    || die "munge round trip through $SOCK failed"

# ---- slurm.conf ------------------------------------------------------------
NODE_CPUS="CPUs=$CPUS"
EXTRA=""
if [ -n "${SLURM_OVERRIDE_CPUS:-}" ]; then
    NODE_CPUS="CPUs=$SLURM_OVERRIDE_CPUS"
    EXTRA="SlurmdParameters=config_overrides"
fi
if [ "$ACCOUNTING" = 1 ]; then
    ACCT_CONF="# slurmdbd on localhost:$DBD_PORT, backed by a private MariaDB on 127.0.0.1:$DB_PORT
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=localhost
AccountingStoragePort=$DBD_PORT
# for slurmdbd connections the munge socket is taken from AccountingStoragePass,
# not from AuthInfo (without this, sacct/sacctmgr/slurmctld try /run/munge/munge.socket.2)
AccountingStoragePass=$SOCK
JobAcctGatherType=jobacct_gather/linux"
else
    ACCT_CONF="# no slurmdbd: sacct says \"Slurm accounting storage is disabled\";
# jobcomp/filetxt below makes \"sacct -c\" (job completion records) work instead
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none"
fi
cat > "$CONF" <<EOF
# generated by start-slurm.sh for a private cluster in $W
ClusterName=pinode
SlurmctldHost=localhost
SlurmctldPort=$CTLD_PORT
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
# private munged: every daemon and client reads the socket path from here
AuthInfo=socket=$SOCK
StateSaveLocation=$W/state
# %n = node name, so that several slurmd on this host do not collide
SlurmdSpoolDir=$W/spool/%n
# PMIx (srun --mpi=pmix) puts spmix_appdir_* under TmpFS (default /tmp)
TmpFS=$W/tmp/%n
SlurmctldPidFile=$W/run/slurmctld.pid
SlurmdPidFile=$W/run/slurmd-%n.pid
SlurmctldLogFile=$W/log/slurmctld.log
SlurmdLogFile=$W/log/slurmd-%n.log
SlurmctldDebug=info
SlurmdDebug=info
PlugStackConfig=$W/etc/plugstack.conf
MailProg=/bin/true
# no cgroups, no systemd: plain /proc based process tracking
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
$ACCT_CONF
JobCompType=jobcomp/filetxt
JobCompLoc=$W/log/jobcomp.txt
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/backfill
# start batch jobs at submit time instead of up to 3 s later
SchedulerParameters=batch_sched_delay=0,sched_min_interval=0
# a job whose afterok dependency failed is cancelled instead of pending forever
# (in 22.05 this lives in DependencyParameters, not SchedulerParameters)
DependencyParameters=kill_invalid_depend
# reject at submit time what can never run here (e.g. -N 2 or -n 3 on one 2-CPU
# node) instead of leaving it PENDING (PartitionConfig) forever
EnforcePartLimits=ALL
MpiDefault=$MPI_DEFAULT
ReturnToService=2
SlurmctldTimeout=30
SlurmdTimeout=30
InactiveLimit=0
MinJobAge=$MIN_JOB_AGE
KillWait=5
Waittime=0
$EXTRA
NodeName=$NODESPEC NodeHostname=localhost NodeAddr=127.0.0.1 Port=$PORTSPEC $NODE_CPUS RealMemory=$REALMEM State=UNKNOWN
PartitionName=$PART Nodes=$NODESPEC Default=YES MaxTime=INFINITE State=UP
EOF
: > "$W/etc/plugstack.conf"

# ---- accounting: private MariaDB + slurmdbd -------------------------------
if [ "$ACCOUNTING" = 1 ]; then
    D=$W/db
    rm -rf "$D"
    mkdir -p "$D"
    mariadb-install-db --no-defaults --datadir="$D/data" --user=root \
        --auth-root-authentication-method=normal --skip-test-db > "$D/install.log" 2>&1 \
        || die "mariadb-install-db failed: $(tail -n 5 "$D/install.log")"
    # started in the background by us; it writes its own pid file
    mariadbd --no-defaults --datadir="$D/data" --socket="$D/mysql.sock" \
        --port="$DB_PORT" --bind-address=127.0.0.1 --pid-file="$D/mariadb.pid" \
        --log-error="$D/mariadb.err" --user=root --skip-log-bin \
        --innodb-buffer-pool-size=64M --innodb-lock-wait-timeout=900 \
        < /dev/null > /dev/null 2>&1 &
    for _ in $(seq 1 $((START_TIMEOUT * 10))); do
        mariadb-admin --no-defaults -S "$D/mysql.sock" -uroot ping >/dev/null 2>&1 && break
        sleep 0.1
    done
    mariadb --no-defaults -S "$D/mysql.sock" -uroot -e "
        CREATE USER 'slurm'@'127.0.0.1' IDENTIFIED BY 'slurm';
        CREATE USER 'slurm'@'localhost' IDENTIFIED BY 'slurm';
        GRANT ALL ON slurm_acct_db.* TO 'slurm'@'127.0.0.1';
        GRANT ALL ON slurm_acct_db.* TO 'slurm'@'localhost';" \
        || die "MariaDB did not come up: $(tail -n 5 "$D/mariadb.err" 2>/dev/null)"
    cat > "$W/etc/slurmdbd.conf" <<EOF
# generated by start-slurm.sh; slurmdbd finds it next to \$SLURM_CONF
AuthType=auth/munge
AuthInfo=socket=$SOCK
DbdHost=localhost
DbdPort=$DBD_PORT
SlurmUser=root
LogFile=$W/log/slurmdbd.log
PidFile=$W/run/slurmdbd.pid
StorageType=accounting_storage/mysql
StorageHost=127.0.0.1
StoragePort=$DB_PORT
StorageUser=slurm
StoragePass=slurm
StorageLoc=slurm_acct_db
EOF
    chmod 600 "$W/etc/slurmdbd.conf"   # slurmdbd refuses a group/world readable file
    SLURM_CONF=$CONF slurmdbd || die "slurmdbd failed: $(tail -n 5 "$W/log/slurmdbd.log" 2>/dev/null)"
    for _ in $(seq 1 $((START_TIMEOUT * 10))); do
        SLURM_CONF=$CONF timeout 5 sacctmgr -n show cluster >/dev/null 2>&1 && break
        sleep 0.1
    done
    SLURM_CONF=$CONF timeout 5 sacctmgr -n show cluster >/dev/null 2>&1 \
        || die "slurmdbd not answering: $(tail -n 5 "$W/log/slurmdbd.log" 2>/dev/null)"
fi

# ---- daemons ---------------------------------------------------------------
SLURM_CONF=$CONF slurmctld -f "$CONF" \
    || die "slurmctld failed: $(tail -n 5 "$W/log/slurmctld.log" 2>/dev/null)"
for n in "${NODES[@]}"; do
    SLURM_CONF=$CONF slurmd -f "$CONF" -N "$n" \
        || die "slurmd -N $n failed: $(tail -n 5 "$W/log/slurmd-$n.log" 2>/dev/null)"
done

deadline=$(( $(date +%s) + START_TIMEOUT ))
until all_idle; do
    if [ "$(date +%s)" -ge "$deadline" ]; then
        echo "---- sinfo" >&2; node_states >&2 || true
        echo "---- slurmctld.log" >&2; tail -n 20 "$W/log/slurmctld.log" >&2 || true
        for n in "${NODES[@]}"; do
            echo "---- slurmd-$n.log" >&2; tail -n 20 "$W/log/slurmd-$n.log" >&2 || true
        done
        die "nodes not idle after ${START_TIMEOUT}s"
    fi
    sleep 0.1
done
T1=$(date +%s.%N)

# ---- warm-up batch job -----------------------------------------------------
# slurmctld does not schedule batch jobs until ~3 s after it started (its
# background loop's first pass); one trivial batch job here proves the batch
# path end to end and takes that delay out of the caller's first test.
if [ "${SLURM_WARMUP:-1}" = 1 ]; then
    WJ=$(SLURM_CONF=$CONF sbatch --parsable -J warmup -o /dev/null --chdir="$W/tmp" --wrap true) \
        || die "warm-up sbatch failed"
    deadline=$(( $(date +%s) + START_TIMEOUT ))
    while :; do
        st=$(SLURM_CONF=$CONF scontrol -o show job "$WJ" 2>/dev/null | grep -o 'JobState=[A-Z_]*' | cut -d= -f2)
        [ "$st" = COMPLETED ] && break
        case "$st" in PENDING|CONFIGURING|RUNNING|COMPLETING) ;; *) die "warm-up job $WJ ended as '${st:-unknown}'; see $W/log" ;; esac
        [ "$(date +%s)" -lt "$deadline" ] || die "warm-up job $WJ still $st after ${START_TIMEOUT}s; see $W/log"
        sleep 0.1
    done
    T2=$(date +%s.%N)
    say "warm-up batch job $WJ completed $(awk -v a="$T1" -v b="$T2" 'BEGIN{printf "%.2f", b-a}')s after the nodes were idle"
fi
SLURMD_PIDS=$(for n in "${NODES[@]}"; do cat "$W/run/slurmd-$n.pid"; done | tr '\n' ' ')
[ "$ACCOUNTING" = 1 ] && SLURMD_PIDS="$SLURMD_PIDS, slurmdbd $(cat "$W/run/slurmdbd.pid"), mariadbd $(cat "$W/db/mariadb.pid")"
say "cluster up in $(awk -v a="$T0" -v b="$(date +%s.%N)" 'BEGIN{printf "%.2f", b-a}')s (nodes idle after $(awk -v a="$T0" -v b="$T1" 'BEGIN{printf "%.2f", b-a}')s): munged $(cat "$W/munge/munged.pid"), slurmctld $(cat "$W/run/slurmctld.pid"), slurmd $SLURMD_PIDS"
print_env
