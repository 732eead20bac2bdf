#!/usr/bin/env bash
# What happens to a vrl sweep job that SLURM interrupts mid-SFT: runs the 2-job `sft_lr` sweep
# (debug=smoke with a longer SFT) on the one-node cluster of up.sh, interrupts job #0 once its
# first SFT checkpoint exists, waits for the Hydra launcher and prints what every side saw.
#   bash scripts/slurm/probe_interrupt.sh MODE [extra overrides...]
# MODE: requeue  `scontrol requeue <job>`
#       usr2     `scancel --signal=USR2 <job>` (submitit's preemption/timeout signal)
#       term     `scancel --signal=TERM <job>` then USR2 (submitit's own `job._interrupt()`)
#       preempt  a job in partition `urgent` takes the CPU (PreemptMode=REQUEUE, GraceTime)
#       scancel  `scancel <job>`
#       none     nothing (e.g. with hydra.launcher.timeout_min=1: the time limit)
# Env: PROBE_DIR (default /tmp/vrl-probe), PROBE_SFT_STEPS (default 60), PROBE_WAIT_S (900).
set -uo pipefail
cd "$(dirname "$0")/../.."
mode="${1:?mode: requeue|usr2|term|preempt|scancel|none}"
shift
state="${VRL_SLURM_DIR:-/tmp/vrl-slurm}"
source "$state/env.sh"
export PYTHONPATH="$PWD" WANDB_MODE=offline PYTHONUNBUFFERED=1
py=.venv/bin/python
dir="${PROBE_DIR:-/tmp/vrl-probe}/$mode-$(date +%H%M%S)"
mkdir -p "$dir"
t0=$(date +%s)
ts() { echo "[+$(($(date +%s) - t0))s $(date +%T)]"; }

# The sbatch script's setup line shows the environment of every start of the job (requeues included).
setup='["echo PROBE_ENV $(date +%T) SLURM_JOB_ID=$SLURM_JOB_ID SLURM_ARRAY_JOB_ID=$SLURM_ARRAY_JOB_ID SLURM_ARRAY_TASK_ID=$SLURM_ARRAY_TASK_ID SLURM_RESTART_COUNT=$SLURM_RESTART_COUNT SLURM_NTASKS=$SLURM_NTASKS PYTHONPATH=$PYTHONPATH PWD=$PWD"]'
$py -m vrl -m +sweeps=sft_lr debug=smoke hydra/launcher=slurm_cpu \
  hydra.launcher.cpus_per_task=1 hydra.launcher.mem_gb=2 "hydra.launcher.setup=$setup" \
  stage.sft.max_steps="${PROBE_SFT_STEPS:-60}" stage.sft.save_every_n_steps=10 \
  stage.sft.val_every_n_steps=30 "hydra.sweep.dir=$dir/sweep" "$@" >"$dir/launcher.log" 2>&1 &
launcher=$!
echo "$(ts) launcher pid $launcher, sweep dir $dir/sweep"

job=""
for _ in $(seq 120); do
  job="$(ls "$dir/sweep/.submitit" 2>/dev/null | grep -E '^[0-9]+_0$' || true)"
  [ -n "$job" ] && break
  sleep 1
done
[ -n "$job" ] || { echo "no job submitted"; cat "$dir/launcher.log"; exit 1; }
echo "$(ts) job #0 is $job"

if [ "$mode" != none ]; then
  for _ in $(seq 600); do
    [ -e "$dir/sweep/0/sft/checkpoints/last.ckpt" ] && break
    kill -0 $launcher 2>/dev/null || break
    sleep 1
  done
  echo "$(ts) first SFT checkpoint of #0: $(ls "$dir/sweep/0/sft/checkpoints" 2>/dev/null | tr '\n' ' ')"
  case "$mode" in
    requeue) scontrol requeue "$job" ;;
    usr2) scancel --signal=USR2 "$job" ;;
    term) scancel --signal=TERM "$job" && scancel --signal=USR2 "$job" ;;
    scancel) scancel "$job" ;;
    preempt) sbatch -p urgent -c 1 --mem=100M -J urgent -o "$dir/urgent.out" --wrap "sleep 20" ;;
    *) echo "unknown mode $mode"; exit 2 ;;
  esac
  echo "$(ts) sent '$mode' to $job (rc $?)"
  for i in 1 3 10; do
    sleep $((i == 1 ? 1 : i - 1))
    echo "$(ts) sacct: $(sacct -P -n -j "${job%_0}" -o JobID,State,Restarts,Reason | tr '\n' ' ')"
  done
fi

for _ in $(seq "${PROBE_WAIT_S:-900}"); do kill -0 $launcher 2>/dev/null || break; sleep 1; done
if kill -0 $launcher 2>/dev/null; then
  echo "$(ts) launcher STILL WAITING after ${PROBE_WAIT_S:-900} s: stopping it"
  kill $launcher
  rc="killed"
else
  wait $launcher
  rc=$?
fi
echo "$(ts) launcher exit status: $rc"
echo "== launcher output (tail)"
grep -v '^\s*$' "$dir/launcher.log" | tail -n 25
echo "== sacct"
sacct -P -j "${job%_0}" -o JobID,State,ExitCode,Restarts,Start,End,Elapsed
grep -h "ArrayJobId=${job%_0} " "$state/jobcomp.log" | sed -E 's/ (UserId|GroupId|TimeLimit|NodeCnt|ProcCnt|WorkDir|ReservationName|Tres|Account|QOS|WcKey|Cluster|SubmitTime|EligibleTime)=[^ ]*//g'
for d in "$dir"/sweep/.submitit/"${job%_0}"_*; do
  j="$(basename "$d")"
  echo "== job $j: files: $(ls "$d" | tr '\n' ' ')"
  grep -hE "PROBE_ENV|submitit (INFO|WARNING|ERROR)|Bypassing|SIGTERM|signal|requeu|Requeu|Restoring states|resuming|stage [a-z]+:|Traceback|Error|error:" \
    "$d"/*_log.out "$d"/*_log.err 2>/dev/null | grep -v '^\[20.*\]\[submitit\]' | cut -c1-300 | head -n 60
  [ -e "$d/${j}_0_result.pkl" ] && $py -c "
import sys; from submitit.core.utils import pickle_load
outcome, value = pickle_load(sys.argv[1])
print('result.pkl:', outcome, getattr(value, 'status', ''), repr(getattr(value, '_return_value', value))[-600:])" "$d/${j}_0_result.pkl"
done
for n in 0 1; do
  echo "== run dir $n: DONE: $(cd "$dir/sweep/$n" 2>/dev/null && ls -d */DONE.json 2>/dev/null | tr '\n' ' ') checkpoints: $(ls "$dir/sweep/$n/sft/checkpoints" 2>/dev/null | tr '\n' ' ')"
  [ -f "$dir/sweep/$n/sft/DONE.json" ] && $py -c "import json,sys; d=json.load(open(sys.argv[1])); print('  sft steps', d['metrics'].get('sft/steps'))" "$dir/sweep/$n/sft/DONE.json"
done
echo "$(ts) probe done: $dir"
