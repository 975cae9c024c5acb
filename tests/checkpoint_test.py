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

  def _saved(self):
    manager = checkpoint.create_manager(self.create_tempdir().full_path, keep=1)
    checkpoint.save(manager, self.state_at(1, 1.0), self.labels, {'task': 'rte'}, {checkpoint.BEST_METRIC: 0.5})
    manager.wait_until_finished()
    return manager

  def test_truncated_or_edited_checkpoint_is_refused_naming_it(self):
    for edit in ('truncate', 'garble', 'delete'):
      manager = self._saved()
      files = [os.path.join(d, f) for d, _, fs in os.walk(manager.directory / '1' / 'state') for f in fs]
      biggest = max(files, key=os.path.getsize)
      if edit == 'delete':
        os.remove(biggest)
      else:
        with open(biggest, 'r+b') as f:
          f.truncate(os.path.getsize(biggest) // 2) if edit == 'truncate' else f.write(b'\x00garbage' * 64)
      fresh = train_state.create_train_state(self.params, self.tx)
      with self.subTest(edit), self.assertRaisesRegex(checkpoint.CheckpointError,
                                                      f'Checkpoint {manager.directory}/1 cannot be restored'):
        restored, _ = checkpoint.restore(manager, 1, fresh, self.labels)
        # A silent wrong load would differ from what was saved.
        for a, b in zip(jax.tree.leaves(restored.params), jax.tree.leaves(self.state_at(1, 1.0).params)):
          np.testing.assert_array_equal(a, b)

  def test_checkpoint_of_another_model_is_refused(self):
    manager = self._saved()
    _, lora_params = helpers.tiny_model('lora')
    labels = partition.param_labels(lora_params, peft.trainable_rules('lora'))
    other = train_state.create_train_state(lora_params, optim.make_optimizer(labels, 1e-3, 10))
    with self.assertRaisesRegex(checkpoint.CheckpointError, 'cannot be restored into this run'):
      checkpoint.restore(manager, 1, other, labels)

  def test_foreign_or_corrupt_delta_is_refused_naming_the_file(self):
    path = os.path.join(self.create_tempdir().full_path, 'delta.safetensors')
    meta = {'task': 'rte', 'method': {'name': 'spartan'}, 'checkpoint': 'minilm'}
    checkpoint.save_delta(path, partition.trainable_subtree(self.params, self.labels), meta)
    checkpoint.load_delta(path, expect={'task': 'rte', 'method': 'spartan', 'checkpoint': 'minilm'})
    for expect, message in (({'task': 'sst2'}, "task 'rte', expected 'sst2'"),
                            ({'method': 'lora'}, "method 'spartan', expected 'lora'"),
                            ({'checkpoint': 'roberta-base'}, "checkpoint 'minilm', expected 'roberta-base'")):
      with self.subTest(message), self.assertRaisesRegex(checkpoint.CheckpointError,
                                                         f'{path} is a delta of another run: {message}'):
        checkpoint.load_delta(path, expect=expect)
    with open(path, 'r+b') as f:
      f.truncate(os.path.getsize(path) // 2)
    with self.assertRaisesRegex(checkpoint.CheckpointError, f'{path} is not a delta written by save_delta'):
      checkpoint.load_delta(path)
    with open(path, 'w') as f:
      f.write('{"not": "safetensors"}')
    with self.assertRaisesRegex(checkpoint.CheckpointError, f'{path} is not a delta written by save_delta'):
      checkpoint.load_delta(path)

  def test_non_finite_delta_is_not_written(self):
    path = os.path.join(self.create_tempdir().full_path, 'delta.safetensors')
    trainable = jax.tree.map(lambda x: x * np.nan, partition.trainable_subtree(self.params, self.labels))
    with self.assertRaisesRegex(ValueError, 'are not finite'):
      checkpoint.save_delta(path, trainable, {})
    self.assertFalse(os.path.exists(path))


if __name__ == '__main__':
  absltest.main()
