#!/usr/bin/env bash
# A one-node SLURM cluster on this machine, from scripts/slurm/slurm.conf.in: for the `slurm` test
# lane (tests/cluster), CI, and trying `hydra/launcher=slurm_cpu` on a laptop.
#
#   sudo bash scripts/slurm/up.sh        # or `make slurm-up`; idempotent: with the cluster up it only checks it
#   source /tmp/vrl-slurm/env.sh         # SLURM_CONF + the `sacct` stand-in first on PATH
#   sinfo; python -m vrl -m +sweeps=sft_lr hydra/launcher=slurm_cpu hydra.launcher.cpus_per_task=1
#   sudo bash scripts/slurm/down.sh      # or `make slurm-down`
#
# What it does: installs slurm-wlm + munge with apt-get if they are missing (Debian/Ubuntu; on
# other systems install them yourself), writes <state dir>/slurm.conf with this machine's hostname,
# CPUs and memory (`slurmd -C`), starts munged (unless one answers), slurmctld and slurmd as plain
# daemons (no systemd), waits until the node is idle and prints how to use it.
# Needs root: slurmd starts every job as the user who submitted it (submit as yourself).
# Settings (environment): VRL_SLURM_DIR  state dir: config, logs, spool (default /tmp/vrl-slurm)
#                         VRL_SLURM_PORT slurmctld's port (default 6817); slurmd listens on +1
# No accounting daemon: the real `sacct` fails, and submitit polls job states with it. The
# stand-in scripts/slurm/sacct.py answers from `scontrol show job` and, for jobs the controller has
# forgotten, from the job-completion log; env.sh puts it first on PATH.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
state="${VRL_SLURM_DIR:-/tmp/vrl-slurm}"
ctld_port="${VRL_SLURM_PORT:-6817}"
conf="$state/slurm.conf"
say() { echo "slurm-up: $*"; }
die() { echo "slurm-up: $*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || die "needs root (slurmd runs jobs as their submitters): sudo bash $0"

# 1. Packages.
if ! command -v slurmctld >/dev/null || ! command -v slurmd >/dev/null || ! command -v munged >/dev/null; then
  command -v apt-get >/dev/null || die "install slurm (slurmctld, slurmd, clients) and munge, then rerun"
  say "installing slurm-wlm and munge (apt-get)"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends slurm-wlm munge >/dev/null
fi

# 2. The config: the template with this machine's facts.
host="$(hostname -s)"
# `slurmd -C` prints what slurmd will detect; a node declared with more than that is drained.
hardware="$(slurmd -C | head -1 | tr ' ' '\n' | grep -E '^(CPUs|Boards|SocketsPerBoard|CoresPerSocket|ThreadsPerCore|RealMemory)=' | tr '\n' ' ')"
[ -n "$hardware" ] || die "slurmd -C printed nothing usable"
mkdir -p "$state"/{ctld,spool,log,bin}
chmod 755 "$state"
sed -e "s|@HOST@|$host|g" -e "s|@STATE@|$state|g" -e "s|@CTLD_PORT@|$ctld_port|g" \
  -e "s|@SLURMD_PORT@|$((ctld_port + 1))|g" -e "s|@NODE_HARDWARE@|${hardware% }|g" \
  "$here/slurm.conf.in" >"$conf.new"
install -m 755 "$here/sacct.py" "$state/bin/sacct"
cat >"$state/env.sh" <<EOF
# vrl's one-node SLURM (scripts/slurm/up.sh): source this before sbatch/squeue/submitit.
export SLURM_CONF="$conf"
case ":\$PATH:" in *":$state/bin:"*) ;; *) export PATH="$state/bin:\$PATH" ;; esac
EOF
export SLURM_CONF="$conf"

alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }
if alive "$state/slurmctld.pid" && alive "$state/slurmd.pid" && cmp -s "$conf.new" "$conf"; then
  rm "$conf.new"
  say "already running (state dir $state)"
elif alive "$state/slurmctld.pid" || alive "$state/slurmd.pid"; then
  say "config changed or a daemon is missing: restarting"
  VRL_SLURM_DIR="$state" bash "$here/down.sh"
fi

# 3. The daemons: munged, slurmctld, slurmd.
if ! (munge -n | unmunge) >/dev/null 2>&1; then
  [ -s /etc/munge/munge.key ] || { mungekey --create --keyfile=/etc/munge/munge.key && chown munge:munge /etc/munge/munge.key; }
  install -d -o munge -g munge -m 755 /run/munge
  say "starting munged"
  runuser -u munge -- munged
  for _ in $(seq 50); do (munge -n | unmunge) >/dev/null 2>&1 && break; sleep 0.1; done
  (munge -n | unmunge) >/dev/null 2>&1 || die "munged does not answer (see /var/log/munge/munged.log)"
fi
if [ -f "$conf.new" ]; then
  mv "$conf.new" "$conf"
  for port in "$ctld_port" "$((ctld_port + 1))"; do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      die "port $port is taken (another SLURM?): set VRL_SLURM_PORT to a free port pair"
    fi
  done
  say "starting slurmctld and slurmd ($host: ${hardware% }; state dir $state)"
  slurmctld -f "$conf" -c  # -c: start clean, no jobs from a previous cluster
  slurmd -f "$conf" -N "$host"
fi

# 4. Wait until the node takes jobs.
node_state=""
for _ in $(seq 100); do
  node_state="$(sinfo -h -n "$host" -o %t 2>/dev/null | head -1 || true)"
  case "$node_state" in
    idle | mix | alloc) break ;;
    down* | drain* | drng*) scontrol update nodename="$host" state=resume 2>/dev/null || true ;;
  esac
  sleep 0.2
done
case "$node_state" in
  idle | mix | alloc) ;;
  *)
    tail -n 20 "$state/log/slurmctld.log" "$state/log/slurmd.log" >&2 || true
    die "node $host is '${node_state:-not answering}' after 20 s (logs above)"
    ;;
esac

cat <<EOF
slurm-up: node $host is $node_state. Use it with:
  source $state/env.sh
  sinfo; srun hostname
  python -m vrl -m +sweeps=sft_lr debug=smoke hydra/launcher=slurm_cpu \\
      hydra.launcher.cpus_per_task=1 hydra.launcher.mem_gb=2
Logs: $state/log/. Stop: bash $here/down.sh
EOF
