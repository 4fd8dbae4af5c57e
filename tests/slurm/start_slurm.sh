#!/usr/bin/env bash
# Start a real single-node SLURM for tests: munged + slurmctld + slurmd on this machine, configless,
# no accounting database, no cgroups, no systemd, and two fake GPUs as GRES.
#
#   sudo tests/slurm/start_slurm.sh          # idempotent: a running cluster is left as it is
#   sudo tests/slurm/stop_slurm.sh           # stops only the daemons this script started
#
# Needs root (installs Debian's slurm-wlm and munge with apt-get when they are missing).
# Everything SLURM writes lives under $SCIML_SLURM_DIR (default /tmp/sciml-slurm): slurm.conf,
# gres.conf, state, spool, logs, pid files and the fake GPU device files.
#
# Why each setting (facts measured with Debian bookworm's slurm-wlm 22.05.8):
# - configless (SlurmctldParameters=enable_configless, slurmd --conf-server): the snakemake SLURM executor
#   strips every SLURM_* variable (SLURM_CONF included) from its job steps, so a slurm.conf reached only
#   through SLURM_CONF makes jobs fail with "Could not establish a configuration source". slurmd caches
#   the served config and links it at /run/slurm/conf, where every client command finds it.
# - proctrack/linuxproc + task/none: no cgroups needed (containers, CI machines without systemd).
# - accounting_storage/none: no slurmdbd; sacct cannot report job states, so the profile uses
#   `slurm-status-command: squeue`, which sees finished jobs for MinJobAge seconds (keep MinJobAge
#   >= 3 x the profile's slurm-init-seconds-before-status-checks, or the executor falls back to sacct
#   and never sees a job finish).
# - GRES gpu needs File= device files or the node is invalid; any device files do: character devices
#   made here (same numbers as /dev/null), or /dev/loop0-1 when mknod is not permitted.
set -euo pipefail

STATE=${SCIML_SLURM_DIR:-/tmp/sciml-slurm}
PARTITION=${SCIML_SLURM_PARTITION:-main}
CLUSTER=sciml
CONF=$STATE/etc/slurm.conf
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

log() { echo "[start_slurm] $*"; }
die() {
    echo "[start_slurm] ERROR: $*" >&2
    for f in "$STATE"/log/slurmctld.log "$STATE"/log/slurmd.log /var/log/munge/munged.log; do
        [[ -s $f ]] && { echo "--- tail of $f" >&2; tail -n 25 "$f" >&2; }
    done
    exit 1
}
alive() { [[ -s $1 ]] && kill -0 "$(cat "$1")" 2>/dev/null; }
node_state() { timeout 10 sinfo -h -N -p "$PARTITION" -o '%t' 2>/dev/null | head -n 1; }

usage_hint() {
    log "partition '$PARTITION' on node $(hostname -s): $(timeout 10 sinfo -h -N -o '%N %t %c CPUs %m MB %G' 2>/dev/null || true)"
    log "config: $CONF (clients read it via /run/slurm/conf; or export SLURM_CONF=$CONF)"
    log "logs:   $STATE/log"
    log "stop:   $HERE/stop_slurm.sh   (SCIML_SLURM_DIR=$STATE)"
}

[[ $(id -u) -eq 0 ]] || die "must run as root (installs packages, starts munged/slurmctld/slurmd)"

# ---- already up? ------------------------------------------------------------------------------------
if alive "$STATE/run/slurmctld.pid" && alive "$STATE/run/slurmd.pid" && [[ $(node_state) == idle* || $(node_state) == mix* || $(node_state) == alloc* ]]; then
    log "SLURM already running"
    usage_hint
    exit 0
fi

# ---- packages ------------------------------------------------------------------------------------------
if ! command -v slurmctld >/dev/null || ! command -v slurmd >/dev/null || ! command -v sbatch >/dev/null \
    || ! command -v munged >/dev/null; then
    log "installing slurm-wlm and munge (apt-get)"
    export DEBIAN_FRONTEND=noninteractive
    timeout 300 apt-get update -q || die "apt-get update failed"
    timeout 600 apt-get install -y -q slurm-wlm munge || die "apt-get install failed"
fi
command -v slurmctld >/dev/null && command -v slurmd >/dev/null && command -v munged >/dev/null \
    || die "slurmctld/slurmd/munged still missing after installation"

# ---- munge ---------------------------------------------------------------------------------------------
mkdir -p "$STATE"
if ! timeout 5 munge -n </dev/null >/dev/null 2>&1; then
    id munge >/dev/null 2>&1 || die "no 'munge' user (the munge package creates it)"
    install -d -o munge -g munge -m 0700 /etc/munge /var/lib/munge /var/log/munge
    install -d -o munge -g munge -m 0755 /run/munge
    if [[ ! -s /etc/munge/munge.key ]]; then
        log "creating /etc/munge/munge.key"
        if command -v mungekey >/dev/null; then
            mungekey --create --keyfile=/etc/munge/munge.key --force
        else
            dd if=/dev/urandom of=/etc/munge/munge.key bs=1 count=1024 status=none
        fi
    fi
    chown munge:munge /etc/munge/munge.key
    chmod 0400 /etc/munge/munge.key
    log "starting munged"
    touch "$STATE/munged.ours"
    if command -v runuser >/dev/null; then
        runuser -u munge -- /usr/sbin/munged || die "munged failed to start"
    else
        su -s /bin/sh munge -c /usr/sbin/munged || die "munged failed to start"
    fi
    for _ in $(seq 50); do timeout 5 munge -n </dev/null >/dev/null 2>&1 && break; sleep 0.1; done
    timeout 5 munge -n </dev/null | timeout 5 unmunge >/dev/null || die "munge does not work"
fi

# ---- stale daemons of an earlier run (ours only: found through our pid files) ---------------------------
if [[ -x $HERE/stop_slurm.sh ]]; then
    SCIML_SLURM_DIR=$STATE SCIML_SLURM_KEEP_MUNGE=1 "$HERE/stop_slurm.sh" >/dev/null 2>&1 || true
fi

# ---- configuration -------------------------------------------------------------------------------------
HOST=$(hostname -s)
CPUS=$(nproc)
MEM_MB=$(awk '/^MemTotal:/ { printf "%d", $2 / 1024 * 0.9 }' /proc/meminfo)
mkdir -p "$STATE"/{etc,ctld,spool,log,run,dev}

# two fake GPUs: device files slurmd can stat (never opened)
GPU_FILES="$STATE/dev/gpu[0-1]"
for i in 0 1; do
    [[ -e $STATE/dev/gpu$i ]] || mknod "$STATE/dev/gpu$i" c 1 3 2>/dev/null || break
done
if [[ ! -c $STATE/dev/gpu0 || ! -c $STATE/dev/gpu1 ]]; then
    for i in 0 1; do [[ -b /dev/loop$i ]] || mknod "/dev/loop$i" b 7 "$i" 2>/dev/null || true; done
    [[ -b /dev/loop0 && -b /dev/loop1 ]] || die "cannot create device files for the fake GPUs"
    GPU_FILES="/dev/loop[0-1]"
fi

cat >"$CONF" <<EOF
# Written by $HERE/start_slurm.sh: single-node test cluster, configless, no accounting.
ClusterName=$CLUSTER
SlurmctldHost=$HOST(127.0.0.1)
SlurmctldPort=6817
SlurmdPort=6818
SlurmctldParameters=enable_configless
AuthType=auth/munge
SlurmUser=root
SlurmdUser=root
StateSaveLocation=$STATE/ctld
SlurmdSpoolDir=$STATE/spool
SlurmctldPidFile=$STATE/run/slurmctld.pid
SlurmdPidFile=$STATE/run/slurmd.pid
SlurmctldLogFile=$STATE/log/slurmctld.log
SlurmdLogFile=$STATE/log/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=500
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
# finished jobs stay visible to squeue this long (the executor's status source without slurmdbd)
MinJobAge=600
ReturnToService=2
SlurmdParameters=config_overrides
SlurmdTimeout=60
InactiveLimit=0
KillWait=5
# every task (batch script and srun steps) prints the GPUs SLURM gave it into the job's log:
# the evidence tests use that a GPU request reached the job's environment
TaskProlog=$STATE/etc/task_prolog.sh
GresTypes=gpu
NodeName=$HOST NodeAddr=127.0.0.1 CPUs=$CPUS RealMemory=$MEM_MB Gres=gpu:2 State=UNKNOWN
PartitionName=$PARTITION Nodes=$HOST Default=YES MaxTime=INFINITE State=UP
EOF
cat >"$STATE/etc/task_prolog.sh" <<'EOF'
#!/bin/sh
# TaskProlog: a line "print TEXT" on stdout goes to the task's stdout (the job's log file).
echo "print [slurm-task] job=${SLURM_JOB_ID:-?} step=${SLURM_STEP_ID:-?} CUDA_VISIBLE_DEVICES=${CUDA_VISIBLE_DEVICES-unset}"
EOF
chmod 0755 "$STATE/etc/task_prolog.sh"
cat >"$STATE/etc/gres.conf" <<EOF
NodeName=$HOST Name=gpu File=$GPU_FILES
EOF

# ---- daemons -------------------------------------------------------------------------------------------
log "starting slurmctld ($CONF)"
slurmctld -c -f "$CONF" || die "slurmctld failed to start"
# until slurmd has fetched and cached the config, only SLURM_CONF leads client commands to it
for _ in $(seq 100); do SLURM_CONF=$CONF timeout 5 scontrol ping 2>/dev/null | grep -q "is UP" && break; sleep 0.2; done
SLURM_CONF=$CONF timeout 5 scontrol ping | grep -q "is UP" || die "slurmctld does not answer"

log "starting slurmd (--conf-server 127.0.0.1:6817)"
slurmd --conf-server 127.0.0.1:6817 || die "slurmd failed to start"

state=""
for _ in $(seq 150); do
    state=$(node_state)
    [[ $state == idle* ]] && break
    [[ $state == inval* || $state == drain* ]] && die "node $HOST is '$state': $(SLURM_CONF=$CONF scontrol show node "$HOST" | grep -i reason)"
    sleep 0.2
done
[[ $state == idle* ]] || die "node not idle after 30 s (state '${state:-none}'; sinfo without SLURM_CONF must find /run/slurm/conf)"
log "SLURM is up"
usage_hint
