"""Many tasks on one backbone: a mixed batch equals each task run alone."""

from absl.testing import absltest
from absl.testing import parameterized
import jax
import numpy as np

from spartan_jax import multitask
from spartan_jax import partition
from spartan_jax.models import peft
import helpers

NUM_LABELS = (3, 2, 1)  # Heads of different widths, regression included.


def task_params(method, seed, pooling='auto'):
  """Tiny-BERT params of `method` whose trainable leaves are random (fresh adapters are the identity)."""
  model, params = helpers.tiny_model(method, num_labels=NUM_LABELS[seed], pooling=pooling)
  labels = partition.param_labels(params, peft.trainable_rules(method))
  keys = iter(jax.random.split(jax.random.key(100 + seed), len(jax.tree.leaves(params))))
  params = jax.tree.map(lambda p, label: p + 0.1 * jax.random.normal(next(keys), p.shape) if label == 'trainable'
                        else p, params, labels)
  return model, params


class MultitaskTest(parameterized.TestCase):

  @parameterized.parameters(*[(m, 'auto') for m in ('spartan', 'houlsby', 'pfeiffer', 'lora', 'bitfit', 'head_only')],
                            ('spartan', 'mean'), ('spartan', 'cls'))
  def test_mixed_batch_equals_each_task_alone(self, method, pooling):
    models, params = zip(*(task_params(method, i, pooling) for i in range(len(NUM_LABELS))))
    stacked = multitask.stack_params(models[0], method, list(params))
    ids, mask, types = helpers.random_batch(0, 7, 12)
    task_ids = np.array([0, 2, 1, 1, 0, 2, 0], np.int32)
    mixed = np.asarray(jax.jit(multitask.make_logits_fn(stacked))(ids, mask, types, task_ids))
    self.assertEqual(mixed.shape, (7, max(NUM_LABELS)))
    for t, (model, p) in enumerate(zip(models, params)):
      rows = task_ids == t
      alone = model.apply({'params': p}, ids[rows], mask[rows], types[rows])['logits']
      np.testing.assert_allclose(mixed[rows, :NUM_LABELS[t]], alone, atol=1e-5, rtol=0)

  def test_memory_report_counts_one_backbone(self):
    models, params = zip(*(task_params('spartan', i) for i in range(3)))
    report = multitask.memory_report(multitask.stack_params(models[0], 'spartan', list(params)))
    self.assertEqual(report['shared_bytes'], report['backbone_bytes'] + report['deltas_bytes'])
    self.assertLess(report['ratio'], 1.0)

  def test_refuses_other_backbones_and_full(self):
    model, a = task_params('spartan', 0)
    _, b = helpers.tiny_model('spartan', num_labels=3, seed=1)
    with self.assertRaisesRegex(ValueError, 'do not share one backbone'):
      multitask.stack_params(model, 'spartan', [a, b])
    with self.assertRaisesRegex(ValueError, 'method=full'):
      multitask.stack_params(model, 'full', [a, a])


if __name__ == '__main__':
  absltest.main()
