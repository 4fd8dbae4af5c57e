#!/usr/bin/env bash
# Stop the test cluster started by start_slurm.sh: cancels its jobs, then stops slurmd, slurmctld and
# (if start_slurm.sh started it) munged -- each by the pid it recorded, nothing else.
#   SCIML_SLURM_DIR   the state directory given to start_slurm.sh (default /tmp/sciml-slurm)
#   SCIML_SLURM_KEEP_MUNGE=1   leave munged running
set -uo pipefail

STATE=${SCIML_SLURM_DIR:-/tmp/sciml-slurm}
CONF=$STATE/etc/slurm.conf
log() { echo "[stop_slurm] $*"; }

stop_pid() {  # name pidfile
    local name=$1 pidfile=$2 pid
    [[ -s $pidfile ]] || return 0
    pid=$(cat "$pidfile")
    if kill -0 "$pid" 2>/dev/null; then
        log "stopping $name (pid $pid)"
        kill -TERM "$pid" 2>/dev/null
        for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
        kill -0 "$pid" 2>/dev/null && { log "$name did not stop, killing it"; kill -KILL "$pid" 2>/dev/null; }
    fi
    rm -f "$pidfile"
}

if [[ -s $STATE/run/slurmctld.pid ]] && kill -0 "$(cat "$STATE/run/slurmctld.pid")" 2>/dev/null \
    && [[ -f $CONF ]]; then
    # our cluster, our jobs: cancel them so no job step outlives the daemons
    SLURM_CONF=$CONF timeout 10 scancel --full --user=root 2>/dev/null || true
    sleep 1
fi
stop_pid slurmd "$STATE/run/slurmd.pid"
stop_pid slurmctld "$STATE/run/slurmctld.pid"
# slurmd links its config cache at /run/slurm/conf for client commands; left behind, it sends every
# scontrol/sinfo to the stopped controller, and each call hangs ~9 s (so does every `snakemake` start:
# the SLURM executor plugin runs `scontrol show config` when it is imported)
if [[ -L /run/slurm/conf && $(readlink /run/slurm/conf) == "$STATE"/* ]]; then
    rm -f /run/slurm/conf
    rmdir /run/slurm 2>/dev/null || true
fi

if [[ ${SCIML_SLURM_KEEP_MUNGE:-0} != 1 && -f $STATE/munged.ours ]]; then
    stop_pid munged /run/munge/munged.pid
    rm -f "$STATE/munged.ours"
fi
log "stopped (state and logs kept in $STATE)"
