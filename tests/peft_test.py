"""Adapters, LoRA, and which parameters each method trains."""

import dataclasses
from unittest import mock

from absl.testing import absltest
from absl.testing import parameterized
import chex
import jax
import jax.numpy as jnp
import numpy as np
from flax import traverse_util

from spartan_jax import partition
from spartan_jax.models import model as model_lib
from spartan_jax.models import peft
import helpers
import report_test
from experiments import report  # report_test puts the repository on sys.path.

H, L = helpers.TINY_BERT.hidden_size, helpers.TINY_BERT.num_hidden_layers


def counts(method, **specs):
  _, params = helpers.tiny_model(method, num_labels=2, **specs)
  memory = specs.get('memory')
  return partition.count_params(params, partition.param_labels(params, peft.trainable_rules(method, memory)))


class ModulesTest(parameterized.TestCase):

  @chex.variants(with_jit=True, without_jit=True)
  @parameterized.parameters((2, 5, 8, 4), (1, 3, 16, 1))
  def test_adapter_and_lora_shapes(self, batch, length, hidden, rank):
    x = jax.random.normal(jax.random.key(0), (batch, length, hidden))
    for module in (peft.Adapter(rank), peft.LoRADense(7, rank, alpha=2.0)):
      params = module.init(jax.random.key(1), x)
      out = self.variant(lambda p, x, m=module: m.apply(p, x))(params, x)
      chex.assert_shape(out, (batch, length, hidden if isinstance(module, peft.Adapter) else 7))

  @parameterized.parameters('houlsby', 'pfeiffer', 'lora')
  def test_fresh_method_is_the_backbone(self, method):
    backbone, params = helpers.tiny_model('head_only')
    model, method_params = helpers.tiny_model(method)
    flat = dict(jax.tree_util.tree_flatten_with_path(params)[0])
    method_params = jax.tree_util.tree_map_with_path(lambda p, v: flat.get(p, v), method_params)
    ids, mask, types = helpers.random_batch(0, batch=2, length=7)
    np.testing.assert_allclose(model.apply({'params': method_params}, ids, mask, types)['logits'],
                               backbone.apply({'params': params}, ids, mask, types)['logits'], atol=1e-6)

  def test_merged_lora_equals_lora_model(self):
    spec = peft.LoRASpec(rank=4, alpha=8.0, targets=('query', 'value', 'output'))
    model, params = helpers.tiny_model('lora', lora=spec)
    rng = iter(jax.random.split(jax.random.key(3), 100))
    params = jax.tree_util.tree_map_with_path(
        lambda p, v: jax.random.normal(next(rng), v.shape) * 0.3 if 'lora_b' in str(p[-1]) else v, params)
    merged = peft.merge_lora(params, spec)
    plain = model_lib.build_model(helpers.TINY_BERT, 'head_only', 3)
    self.assertEqual(jax.tree.structure(merged), jax.tree.structure(model_lib.init_params(plain, jax.random.key(0))))
    ids, mask, types = helpers.random_batch(1, batch=3, length=9)
    with_lora = model.apply({'params': params}, ids, mask, types)['logits']
    np.testing.assert_allclose(plain.apply({'params': merged}, ids, mask, types)['logits'], with_lora, atol=1e-5)
    no_update = jax.tree_util.tree_map_with_path(lambda p, v: v * 0 if 'lora_b' in str(p[-1]) else v, params)
    without_lora = plain.apply({'params': peft.merge_lora(no_update, spec)}, ids, mask, types)['logits']
    self.assertGreater(np.abs(with_lora - without_lora).max(), 1e-3)

  def test_spec_errors(self):
    with self.assertRaisesRegex(ValueError, 'placement'):
      peft.AdapterSpec(placement='middle')
    with self.assertRaisesRegex(ValueError, 'targets'):
      peft.LoRASpec(targets=('query', 'ffn'))
    with self.assertRaisesRegex(ValueError, 'Unknown method'):
      peft.trainable_rules('prefix')
    with self.assertRaisesRegex(ValueError, 'Unknown method'):
      model_lib.build_model(helpers.TINY_BERT, 'prefix', 2)


class TrainableCountsTest(parameterized.TestCase):
  """Counts against closed forms for the tiny BERT (num_labels=2)."""
  head = H * H + H + H * 2 + 2
  layer_norms = (2 * L + 1) * 2 * H

  def test_head_only(self):
    self.assertEqual(counts('head_only')['trainable'], self.head)

  def test_spartan(self):
    e, c = 16, 3
    memory = L * (e * H + 2 * e * c * H)
    self.assertEqual(counts('spartan')['trainable'], memory + self.head + self.layer_norms)
    no_norms = peft.MemorySpec(train_layer_norms=False)
    self.assertEqual(counts('spartan', memory=no_norms)['trainable'], memory + self.head)
    shared = peft.MemorySpec(shared=True)
    self.assertEqual(counts('spartan', memory=shared)['trainable'], memory // L + self.head + self.layer_norms)

  def test_adapters_and_lora(self):
    adapter = lambda b: H * b + b + b * H + H
    self.assertEqual(counts('houlsby')['trainable'], 2 * L * adapter(64) + self.head + self.layer_norms)
    self.assertEqual(counts('pfeiffer')['trainable'], L * adapter(64) + self.head + self.layer_norms)
    self.assertEqual(counts('lora')['trainable'], L * 2 * (H * 8 + 8 * H) + self.head)

  def test_bitfit_and_full(self):
    c = helpers.TINY_BERT
    biases = L * (4 * H + c.intermediate_size + H) + self.layer_norms // 2 + self.head
    self.assertEqual(counts('bitfit')['trainable'], biases)
    full = counts('full')
    self.assertEqual(full['frozen'], 0)
    self.assertEqual(full['trainable'], counts('head_only')['trainable'] + counts('head_only')['frozen'])


class RegistryTest(absltest.TestCase):

  def test_one_record_adds_a_method(self):
    # LoRA factors plus every bias, listed first: model, partition and report all read this one record.
    toy = peft.Method('toy', ((r'^head/', 'trainable'), (peft.HOOK_PARAMS['lora'], 'trainable'),
                              (r'/bias$', 'trainable'), (r'.*', 'frozen')), hook='lora')
    with mock.patch.object(peft, 'METHODS', {'toy': toy, **peft.METHODS}):
      self.assertEqual(peft.trainable_rules('toy'), toy.rules)
      self.assertEqual(model_lib.method_specs('toy'), {'memory': None, 'adapter': None, 'lora': peft.LoRASpec()})
      self.assertGreater(counts('toy')['trainable'], counts('lora')['trainable'])
      records = [report_test.record('sst2', 'spartan', 13, .8),
                 dict(report_test.record('sst2', 'head_only', 13, .7), method='toy')]
      self.assertEqual([r['method'] for r in report.summarize(records)], ['toy', 'spartan'])
    with self.assertRaisesRegex(ValueError, 'Unknown method'):
      peft.trainable_rules('toy')

  def test_is_backbone(self):
    _, params = helpers.tiny_model('spartan')
    _, lora = helpers.tiny_model('lora')
    _, houlsby = helpers.tiny_model('houlsby')
    _, plain = helpers.tiny_model('head_only')
    flat = lambda p: set(traverse_util.flatten_dict(p, sep='/'))
    for added in (params, lora, houlsby):
      self.assertEqual({p for p in flat(added) if peft.is_backbone(p)}, flat(plain))

  def test_config_defaults_match_specs(self):
    method = helpers.load_config('glue.py').method
    for spec, section in ((peft.MemorySpec(), method.memory), (peft.AdapterSpec(), method.adapter),
                          (peft.LoRASpec(), method.lora)):
      expected = dataclasses.asdict(spec)
      expected.pop('placement', None)  # The adapter method's name sets it.
      if 'layers' in expected:
        expected['layers'] = 'all' if expected['layers'] is None else expected['layers']
      self.assertEqual(section.to_dict(), expected, type(spec).__name__)


if __name__ == '__main__':
  absltest.main()
