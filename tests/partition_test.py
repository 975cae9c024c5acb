"""Freeze rules, the optimizer's masking, and the trainable subtree."""

from absl.testing import absltest
from absl.testing import parameterized
import jax
import numpy as np
import optax
from flax import traverse_util

from spartan_jax import optim
from spartan_jax import partition
from spartan_jax import train
from spartan_jax import train_state
from spartan_jax.models import peft
import helpers


def labelled(method):
  model, params = helpers.tiny_model(method)
  return model, params, partition.param_labels(params, peft.trainable_rules(method))


def array_elements(tree):
  return sum(int(np.prod(x.shape)) for x in jax.tree.leaves(tree) if hasattr(x, 'shape') and x.ndim)


class FreezingTest(parameterized.TestCase):

  @parameterized.parameters(*peft.METHODS)
  def test_steps_change_trainable_and_keep_frozen_bit_identical(self, method):
    model, params, labels = labelled(method)
    tx = optim.make_optimizer(labels, learning_rate=1e-2, total_steps=10)
    state = train_state.create_train_state(params, tx)
    step = jax.jit(train.make_train_step(model, tx, aux_loss_weight=0.1))
    ids, mask, types = helpers.random_batch(0, batch=4, length=8)
    batch = dict(input_ids=ids, attention_mask=mask, token_type_ids=types, label=np.array([0, 1, 2, 1], np.int32),
                 mask=np.ones(4, np.float32))
    for _ in range(3):
      state, metrics = step(state, batch, jax.random.key(0))
    self.assertTrue(np.isfinite(metrics['loss']))
    before, after, flat_labels = (traverse_util.flatten_dict(t, sep='/') for t in (params, state.params, labels))
    for path, label in flat_labels.items():
      if label == 'frozen':
        np.testing.assert_array_equal(after[path], before[path], err_msg=path)
      else:
        self.assertFalse(np.array_equal(after[path], before[path]), msg=f'{path} did not change')
    # Adam keeps two moments for each trainable element and nothing for frozen ones.
    trainable = partition.count_params(params, labels)['trainable']
    self.assertEqual(array_elements(state.opt_state), 2 * trainable)

  def test_every_param_needs_a_rule(self):
    _, params = helpers.tiny_model('spartan')
    with self.assertRaisesRegex(ValueError, 'matches no freeze rule'):
      partition.param_labels(params, [(r'^head/', 'trainable')])
    with self.assertRaisesRegex(ValueError, 'unknown'):
      partition.param_labels(params, [(r'.*', 'train')])

  def test_first_matching_rule_wins(self):
    _, params = helpers.tiny_model('head_only')
    labels = traverse_util.flatten_dict(
        partition.param_labels(params, [(r'/bias$', 'frozen'), (r'^head/', 'trainable'), (r'.*', 'frozen')]), sep='/')
    self.assertEqual(labels['head/classifier/bias'], 'frozen')
    self.assertEqual(labels['head/classifier/kernel'], 'trainable')

  def test_trainable_subtree_round_trip(self):
    _, params, labels = labelled('spartan')
    trainable = partition.trainable_subtree(params, labels)
    self.assertEqual(array_elements(trainable), partition.count_params(params, labels)['trainable'])
    changed = jax.tree.map(lambda x: x + 1, trainable)
    merged = traverse_util.flatten_dict(partition.merge_trainable(params, changed), sep='/')
    for path, label in traverse_util.flatten_dict(labels, sep='/').items():
      expected = traverse_util.flatten_dict(params, sep='/')[path] + (label == 'trainable')
      np.testing.assert_array_equal(merged[path], expected)

  def test_merge_errors_name_the_parameter(self):
    _, params = helpers.tiny_model('head_only')
    with self.assertRaisesRegex(ValueError, 'encoder/memory_0/child_keys'):
      partition.merge_trainable(params, {'encoder': {'memory_0': {'child_keys': np.zeros(3)}}})
    with self.assertRaisesRegex(ValueError, 'head/classifier/bias.*shape'):
      partition.merge_trainable(params, {'head': {'classifier': {'bias': np.zeros(5)}}})


class ScheduleTest(parameterized.TestCase):

  @parameterized.parameters((100, 10), (50, 0), (20, 20))
  def test_warmup_then_linear_decay(self, total, warmup):
    schedule = optim.make_schedule(1e-3, total, warmup)
    steps = np.arange(total)  # The steps that train.
    expected = np.where(steps < warmup, 1e-3 * steps / max(warmup, 1),
                        1e-3 * np.clip((total - steps) / max(total - warmup, 1), 0, 1))
    np.testing.assert_allclose([schedule(s) for s in steps], expected, rtol=1e-5, atol=1e-9)

  @parameterized.parameters(True, False)
  def test_adamw_on_gradients_clipped_by_the_trainable_global_norm(self, clip):
    labels = {'a': 'trainable', 'b': 'frozen'}
    tx = optim.make_optimizer(labels, learning_rate=1.0, total_steps=2, grad_clip_norm=1.0 if clip else None)
    params = {'a': np.zeros(4, np.float32), 'b': np.zeros(4, np.float32)}
    grads = [np.array([10., -20., 5., 0.], np.float32), np.array([.1, .2, -.3, .05], np.float32)]
    opt_state, m, v = tx.init(params), 0.0, 0.0
    for t, g in enumerate(grads, 1):
      # Frozen gradients are huge: they must neither move 'b' nor enter the clipping norm.
      updates, opt_state = tx.update({'a': g, 'b': np.full(4, 1e6, np.float32)}, opt_state, params)
      g = g * min(1.0, 1.0 / np.linalg.norm(g)) if clip else g
      m, v = 0.9 * m + 0.1 * g, 0.999 * v + 0.001 * g * g
      lr = 1.0 - 0.5 * (t - 1)  # Linear decay over the 2 steps.
      expected = -lr * (m / (1 - 0.9**t)) / (np.sqrt(v / (1 - 0.999**t)) + 1e-8)  # AdamW, no decay.
      np.testing.assert_allclose(updates['a'], expected, rtol=1e-4)  # Step 2 differs by >10% without clipping.
      np.testing.assert_array_equal(updates['b'], 0)

if __name__ == '__main__':
  absltest.main()
