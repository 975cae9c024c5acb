"""`TrainState` (the step, all params, frozen and trainable, and the optimizer state) and `create_train_state`."""

import flax.struct
import jax
import optax


class TrainState(flax.struct.PyTreeNode):
  step: jax.Array
  params: dict
  opt_state: optax.OptState


def create_train_state(params, tx: optax.GradientTransformation) -> TrainState:
  return TrainState(step=jax.numpy.zeros((), jax.numpy.int32), params=params, opt_state=tx.init(params))
