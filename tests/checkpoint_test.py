"""Orbax checkpoints of the trainable part, best-step selection, and the per-task delta file."""

import os

from absl.testing import absltest
import jax
import numpy as np

from spartan_jax import checkpoint
from spartan_jax import optim
from spartan_jax import partition
from spartan_jax import train_state
from spartan_jax.models import peft
import helpers


class CheckpointTest(absltest.TestCase):

  def setUp(self):
    super().setUp()
    _, self.params = helpers.tiny_model('spartan')
    self.labels = partition.param_labels(self.params, peft.trainable_rules('spartan'))
    self.tx = optim.make_optimizer(self.labels, 1e-3, 10)

  def state_at(self, step, shift):
    state = train_state.create_train_state(self.params, self.tx)
    trainable = jax.tree.map(lambda x: x + shift, partition.trainable_subtree(self.params, self.labels))
    return state.replace(step=np.int32(step) + state.step, params=partition.merge_trainable(self.params, trainable))

  def test_round_trip_keeps_latest_and_best_only(self):
    manager = checkpoint.create_manager(self.create_tempdir().full_path, keep=1)
    for step, score in ((1, 0.5), (2, 0.9), (3, 0.9), (4, 0.7)):
      checkpoint.save(manager, self.state_at(step, step), self.labels, {'task': 'rte'},
                      {checkpoint.BEST_METRIC: score + 1e-12 * step})
    manager.wait_until_finished()
    self.assertEqual(manager.all_steps(), [3, 4])
    self.assertEqual(manager.best_step(), 3)  # Ties go to the later step.
    fresh = train_state.create_train_state(self.params, self.tx)
    restored, meta = checkpoint.restore(manager, 3, fresh, self.labels)
    self.assertEqual(meta, {'task': 'rte'})
    self.assertEqual(int(restored.step), 3)
    expected = self.state_at(3, 3)
    for a, b in zip(jax.tree.leaves(restored.params), jax.tree.leaves(expected.params)):
      np.testing.assert_array_equal(a, b)
    self.assertEqual(jax.tree.structure(restored.opt_state), jax.tree.structure(fresh.opt_state))

  def test_delta_round_trip_is_the_trainable_part(self):
    path = os.path.join(self.create_tempdir().full_path, 'delta.safetensors')
    trainable = partition.trainable_subtree(self.params, self.labels)
    size = checkpoint.save_delta(path, trainable, {'method': 'spartan'})
    self.assertEqual(size, os.path.getsize(path))
    self.assertFalse(os.path.exists(path + '.tmp'))
    loaded, meta = checkpoint.load_delta(path)
    self.assertEqual(meta, {'method': 'spartan'})
    for a, b in zip(jax.tree.leaves(loaded), jax.tree.leaves(trainable)):
      np.testing.assert_array_equal(a, b)
    n = partition.count_params(self.params, self.labels)['trainable']
    self.assertBetween(size, 4 * n, 4 * n + 16_384)


if __name__ == '__main__':
  absltest.main()
