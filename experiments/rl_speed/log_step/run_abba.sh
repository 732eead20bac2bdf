#!/bin/bash
# A = 8a1f54b (log_dict), B = working tree (log_step_metrics + split); ABBA, 40 RL steps each.
BASE=/tmp/frontier/sft1200_s0
run() { # tree name
  cd $1 && OMP_NUM_THREADS=1 PYTHONPATH=. /work/main/.venv/bin/python /tmp/overhead.py 'stages=[rl]' \
    products.model=$BASE/sft/model products.train_data=$BASE/data/train stage.rl.max_steps=40 \
    logger.wandb_mode=disabled hydra.run.dir=/tmp/ab_$2 trainer.enable_progress_bar=false \
    '+trainer.callbacks=[{_target_: vrl.trainer.StepTimer},{_target_: __main__.ModelTime}]' 2>&1 | grep -A3 "steps, mean ms" > /tmp/ab_$2.txt
}
rm -rf /tmp/ab_*
run /work/wt/frontier A1; run /work/main B1; run /work/main B2; run /work/wt/frontier A2
for x in A1 B1 B2 A2; do echo "== $x"; cat /tmp/ab_$x.txt; done
