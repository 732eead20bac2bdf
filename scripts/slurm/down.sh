#!/usr/bin/env bash
# Stops the one-node SLURM cluster of scripts/slurm/up.sh: cancels its jobs, then stops slurmd and
# slurmctld (by their pid files in the state dir). munged stays: it may be the system's.
#   sudo bash scripts/slurm/down.sh            (or `make slurm-down`)
# Keeps the state dir (config, logs); VRL_SLURM_DIR picks it as in up.sh.
set -euo pipefail
state="${VRL_SLURM_DIR:-/tmp/vrl-slurm}"
export SLURM_CONF="$state/slurm.conf"
alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

if alive "$state/slurmctld.pid"; then
  jobs="$(squeue -h -o %A 2>/dev/null || true)"
  if [ -n "$jobs" ]; then
    echo "slurm-down: cancelling jobs $(echo $jobs)"
    scancel $jobs || true
    for _ in $(seq 40); do [ -z "$(squeue -h -o %A 2>/dev/null)" ] && break; sleep 1; done
  fi
fi
for daemon in slurmd slurmctld; do
  pidfile="$state/$daemon.pid"
  alive "$pidfile" || continue
  pid="$(cat "$pidfile")"
  kill "$pid"
  for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -0 "$pid" 2>/dev/null && kill -9 "$pid"
  echo "slurm-down: stopped $daemon ($pid)"
done
