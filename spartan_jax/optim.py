"""The optimizer: AdamW with warm-up + linear decay and clipping on trainable params; frozen ones get nothing."""

import optax


def make_schedule(learning_rate: float, total_steps: int, warmup_steps: int) -> optax.Schedule:
  """Linear warm-up from 0 to `learning_rate`, then linear decay to 0 at `total_steps`."""
  warmup_steps = min(warmup_steps, total_steps)
  return optax.join_schedules([
      optax.linear_schedule(0.0, learning_rate, max(warmup_steps, 1)),
      optax.linear_schedule(learning_rate, 0.0, max(total_steps - warmup_steps, 1)),
  ], [warmup_steps])


def make_optimizer(labels, learning_rate: float, total_steps: int, warmup_steps: int = 0,
                   weight_decay: float = 0.0, grad_clip_norm: float | None = 1.0) -> optax.GradientTransformation:
  """`optax.multi_transform`: AdamW on 'trainable' leaves, `set_to_zero` (no state) on 'frozen' ones."""
  trainable = [optax.adamw(make_schedule(learning_rate, total_steps, warmup_steps), weight_decay=weight_decay)]
  if grad_clip_norm:
    trainable.insert(0, optax.clip_by_global_norm(grad_clip_norm))
  return optax.multi_transform({'trainable': optax.chain(*trainable), 'frozen': optax.set_to_zero()}, labels)
