"""The policy's data: what flows between rollout, rewards, replay and the loss.

The bottom layer of the RL path (it imports only `vrl.data.schema`, `vrl.errors`, torch):
- `trajectory`: `Trajectory` (one response and what is learnt about it), `reward_inputs`.
- `batch`: `TrajectoryBatch` (trajectories padded to tensors), `left_pad`.
- `images`: processor inputs for prompts, image tensors for training rows.
- `tokens`: EOS ids, stop strings, placeholder tokens a response must never hold.
- `log_probs`: per-token log-probs of responses under a model, the one place the RL side
  computes the log-probs its loss uses.
- `continuation`: `Continuation`, `ContinueFn`, the engine's continuation boundary.
- `sampling`: `Sampling`, and the one rule that changes it for a purpose.
- `token_chooser`: `TokenChooser`, the next token from logits by `generate`'s rules.
- `fast_decode`: `sample_tokens`, vrl's own KV-cached decode loop (the `fast` engine's core);
  `decode_step`: its step through the decoder layers' modules, with fused weights.
- `modules`: the base model under a peft wrapper, the KV cache a forward returned.
- `vision`: each distinct image encoded once per log-prob or update forward.
"""
