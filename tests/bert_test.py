"""Encoder numerics against Hugging Face PyTorch (golden files from make_golden.py)."""

import json
import os
from unittest import mock

from absl.testing import absltest
from absl.testing import parameterized
import chex
import jax
import jax.numpy as jnp
import numpy as np
from flax import traverse_util

from spartan_jax import partition
from spartan_jax.models import bert
from spartan_jax.models import model as model_lib
from spartan_jax.models import peft
from spartan_jax.models import pretrained
import helpers


class HuggingFaceParityTest(parameterized.TestCase):

  @parameterized.parameters('bert', 'roberta')
  def test_random_config_matches_pytorch(self, name):
    hf_config, golden, state = helpers.load_golden(name)
    path = helpers.write_checkpoint(self.create_tempdir().full_path, hf_config, state)
    model, params = model_lib.from_pretrained(path, 'head_only', num_labels=golden['logits'].shape[-1])
    self.assertEqual(model.pooling, {'bert': 'cls_pooler', 'roberta': 'cls'}[name])  # 'auto': the HF head.
    out = model.apply({'params': params}, golden['input_ids'], golden['attention_mask'], golden['token_type_ids'])
    np.testing.assert_allclose(out['last_hidden_state'], golden['last_hidden_state'], atol=1e-4, rtol=0)
    np.testing.assert_allclose(out['logits'], golden['logits'], atol=1e-4, rtol=0)

  def test_minilm_checkpoint_matches_pytorch(self):
    _, golden, head_state = helpers.load_golden('minilm')
    model, params = model_lib.from_pretrained('minilm', 'head_only', num_labels=2, pooling='cls_pooler')
    head = traverse_util.unflatten_dict(pretrained.convert_state_dict(head_state), sep='/')
    params = partition.merge_trainable(params, head)
    out = model.apply({'params': params}, golden['input_ids'], golden['attention_mask'], golden['token_type_ids'])
    real = golden['attention_mask'][..., None] > 0
    np.testing.assert_allclose(np.where(real, out['last_hidden_state'], 0),
                               np.where(real, golden['last_hidden_state'], 0), atol=1e-4, rtol=0)
    np.testing.assert_allclose(out['logits'], golden['logits'], atol=1e-4, rtol=0)


class PoolingTest(parameterized.TestCase):

  def _logits_and_hidden(self, pooling, config=helpers.TINY_BERT):
    model, params = helpers.tiny_model('spartan', config, num_labels=3, pooling=pooling)
    ids, mask, types = helpers.random_batch(0, batch=4, length=9, config=config)
    out = model.apply({'params': params}, ids, mask, types)
    return params['head'], np.asarray(out['last_hidden_state'], np.float64), mask, np.asarray(out['logits'])

  def test_mean_is_a_masked_mean_of_real_tokens(self):
    head, hidden, mask, logits = self._logits_and_hidden('mean')
    self.assertEqual(set(head), {'classifier'})
    pooled = (hidden * mask[..., None]).sum(1) / mask.sum(1, keepdims=True)
    expected = pooled @ head['classifier']['kernel'] + head['classifier']['bias']
    np.testing.assert_allclose(logits, expected, atol=1e-5, rtol=0)

  def test_cls_is_robertas_head_on_the_first_token(self):
    head, hidden, _, logits = self._logits_and_hidden('cls')
    x = np.tanh(hidden[:, 0] @ head['dense']['kernel'] + head['dense']['bias'])
    np.testing.assert_allclose(logits, x @ head['out_proj']['kernel'] + head['out_proj']['bias'], atol=1e-5)

  def test_cls_pooler_is_berts_pooler_and_classifier(self):
    head, hidden, _, logits = self._logits_and_hidden('cls_pooler')
    x = np.tanh(hidden[:, 0] @ head['pooler']['kernel'] + head['pooler']['bias'])
    np.testing.assert_allclose(logits, x @ head['classifier']['kernel'] + head['classifier']['bias'], atol=1e-5)

  @parameterized.parameters(('bert', 'cls_pooler'), ('roberta', 'cls'))
  def test_auto_without_checkpoint_is_the_architectures_head(self, model_type, expected):
    self.assertEqual(model_lib.resolve_pooling('auto', model_type), expected)

  def test_auto_follows_a_sentence_transformers_checkpoint(self):
    self.assertEqual(model_lib.resolve_pooling('auto', 'bert', pretrained.resolve_checkpoint('minilm')), 'mean')
    self.assertEqual(model_lib.resolve_pooling('cls', 'bert', pretrained.resolve_checkpoint('minilm')), 'cls')

  @parameterized.parameters((dict(pooling_mode_cls_token=True), 'cls'),
                            (dict(pooling_mode_mean_tokens=True, pooling_mode_cls_token=False), 'mean'))
  def test_sentence_transformers_modes(self, modes, expected):
    path = self.create_tempfile('ckpt/1_Pooling/config.json', content=json.dumps(modes)).full_path
    checkpoint_dir = os.path.dirname(os.path.dirname(path))
    self.assertEqual(model_lib.resolve_pooling('auto', 'bert', checkpoint_dir), expected)

  def test_unsupported_sentence_transformers_mode_names_the_file(self):
    path = self.create_tempfile('ckpt/1_Pooling/config.json',
                                content=json.dumps({'pooling_mode_max_tokens': True})).full_path
    with self.assertRaisesRegex(ValueError, r'1_Pooling/config\.json.*pooling_mode_max_tokens'):
      model_lib.resolve_pooling('auto', 'bert', os.path.dirname(os.path.dirname(path)))

  def test_unknown_pooling_fails_before_loading(self):
    with mock.patch.object(pretrained, 'resolve_checkpoint', side_effect=AssertionError('too late')):
      with self.assertRaisesRegex(ValueError, 'pooling=.max.'):
        model_lib.from_pretrained('org/any', 'spartan', num_labels=2, pooling='max')

  def test_pretrained_pooler_is_dropped_by_mean_pooling(self):
    hf_config, _, state = helpers.load_golden('bert')
    path = helpers.write_checkpoint(self.create_tempdir().full_path, hf_config, state)
    model, params = model_lib.from_pretrained(path, 'head_only', num_labels=3, pooling='mean')
    self.assertEqual(model.pooling, 'mean')
    self.assertEqual(set(params['head']), {'classifier'})


class EncoderTest(parameterized.TestCase):

  @parameterized.product(config=[helpers.TINY_BERT, helpers.TINY_ROBERTA],
                         method=['spartan', 'houlsby', 'pfeiffer', 'lora', 'full'], pooling=['auto', 'mean'])
  def test_padding_does_not_change_real_tokens(self, config, method, pooling):
    model, params = helpers.tiny_model(method, config, pooling=pooling)
    ids, mask, types = helpers.random_batch(0, batch=3, length=9, config=config)
    pad = lambda a, v: np.pad(a, ((0, 0), (0, 7)), constant_values=v)
    short = model.apply({'params': params}, ids, mask, types)
    long = model.apply({'params': params}, pad(ids, config.pad_token_id), pad(mask, 0), pad(types, 0))
    real = mask[..., None] > 0
    np.testing.assert_allclose(np.where(real, long['last_hidden_state'][:, :9], 0),
                               np.where(real, short['last_hidden_state'], 0), atol=1e-5)
    np.testing.assert_allclose(long['logits'], short['logits'], atol=1e-5)
    np.testing.assert_allclose(long['aux_loss'], short['aux_loss'], atol=1e-6)

  @parameterized.parameters(helpers.TINY_BERT, helpers.TINY_ROBERTA)
  def test_roberta_positions_start_after_padding_index(self, config):
    ids = np.array([[5, 6, 7, config.pad_token_id]])
    expected = [[2, 3, 4, 1]] if config.model_type == 'roberta' else [[0, 1, 2, 3]]
    np.testing.assert_array_equal(bert.position_ids_for(jnp.asarray(ids), config), expected)

  def test_dropout_only_when_not_deterministic(self):
    model, params = helpers.tiny_model('spartan')
    ids, mask, types = helpers.random_batch(1, batch=2, length=8)
    run = lambda det, seed: model.apply({'params': params}, ids, mask, types, deterministic=det,
                                        rngs={'dropout': jax.random.key(seed)})['logits']
    np.testing.assert_array_equal(run(True, 0), run(True, 1))
    self.assertGreater(np.abs(run(False, 0) - run(False, 1)).max(), 1e-4)

  def test_bfloat16_close_to_float32(self):
    model, params = helpers.tiny_model('spartan')
    model16 = model_lib.build_model(helpers.TINY_BERT, 'spartan', 3, dtype=jnp.bfloat16)
    ids, mask, types = helpers.random_batch(2, batch=2, length=8)
    out32 = model.apply({'params': params}, ids, mask, types)
    out16 = model16.apply({'params': params}, ids, mask, types)
    self.assertEqual(out16['last_hidden_state'].dtype, jnp.bfloat16)
    np.testing.assert_allclose(out16['logits'], out32['logits'], atol=0.05)

  def test_config_errors(self):
    with self.assertRaisesRegex(ValueError, 'not divisible by num_attention_heads'):
      bert.EncoderConfig(hidden_size=30, num_attention_heads=4)
    with self.assertRaisesRegex(ValueError, 'model_type'):
      bert.EncoderConfig(model_type='gpt2')


class ModuleShapesTest(parameterized.TestCase):

  @chex.variants(with_jit=True, without_jit=True)
  @parameterized.parameters((1, 5), (3, 9))
  def test_every_module(self, batch, length):
    c = helpers.TINY_BERT
    dims = chex.Dimensions(B=batch, T=length, H=c.hidden_size, N=3, E=16)
    ids, mask, types = helpers.random_batch(0, batch, length)
    x = jax.random.normal(jax.random.key(0), dims['BTH'])
    bias = jnp.where(mask[:, None, None, :] > 0, 0.0, -1e9)
    cases = [
        (bert.Embeddings(c), (ids, types), 'BTH'),
        (bert.SelfAttention(c, peft.LoRASpec()), (x, bias), 'BTH'),
        (bert.Layer(c, peft.AdapterSpec()), (x, bias), 'BTH'),
        (model_lib.BertHead(3, 0.1), (x,), 'BN'),
        (model_lib.RobertaHead(3, 0.1), (x,), 'BN'),
    ]
    for module, args, shape in cases:  # Each takes `deterministic` last.
      params = module.init(jax.random.key(1), *args, True)
      out = self.variant(lambda p, *a, m=module: m.apply(p, *a, True))(params, *args)
      chex.assert_shape(out, dims[shape])
    encoder = bert.Encoder(c, peft.MemorySpec())
    params = encoder.init(jax.random.key(1), ids, mask, types)
    hidden, weights = self.variant(lambda p, *a: encoder.apply(p, *a))(params, ids, mask, types)
    chex.assert_shape(hidden, dims['BTH'])
    chex.assert_shape(weights, dims['BTE'])
    model, params = helpers.tiny_model('spartan')
    out = self.variant(lambda p, *a: model.apply({'params': p}, *a))(params, ids, mask, types)
    chex.assert_shape(out['logits'], dims['BN'])
    chex.assert_shape(out['last_hidden_state'], dims['BTH'])
    chex.assert_shape(out['aux_loss'], ())


class SpartanHookTest(parameterized.TestCase):

  def test_zero_child_values_equal_backbone_exactly(self):
    backbone, params = helpers.tiny_model('head_only')
    model, spartan_params = helpers.tiny_model('spartan')
    for name in ('memory_0', 'memory_1'):
      memory = dict(spartan_params['encoder'][name])
      memory['child_values'] = jnp.zeros_like(memory['child_values'])
      params['encoder'][name] = memory
    ids, mask, types = helpers.random_batch(3, batch=3, length=10)
    base = backbone.apply({'params': params}, ids, mask, types)
    out = model.apply({'params': params}, ids, mask, types)
    np.testing.assert_array_equal(out['last_hidden_state'], base['last_hidden_state'])
    np.testing.assert_array_equal(out['logits'], base['logits'])

  @parameterized.parameters(
      dict(memory=peft.MemorySpec(), names=['memory_0', 'memory_1']),
      dict(memory=peft.MemorySpec(layers=(1,)), names=['memory_1']),
      dict(memory=peft.MemorySpec(shared=True), names=['memory']),
      dict(memory=peft.MemorySpec(layer_norm=True), names=['memory_0', 'memory_1']),
  )
  def test_memory_placement_options(self, memory, names):
    model, params = helpers.tiny_model('spartan', memory=memory)
    found = sorted(k for k in params['encoder'] if k.startswith('memory'))
    self.assertEqual(found, names)
    self.assertEqual('layer_norm' in params['encoder'][names[0]], memory.layer_norm)
    ids, mask, types = helpers.random_batch(4, batch=2, length=6)
    out = model.apply({'params': params}, ids, mask, types)
    calls = 2 if memory.layers is None else len(memory.layers)
    self.assertLen(out['parent_weights'], calls)
    chex.assert_shape(out['parent_weights'], (2, 6, memory.num_parents))

  def test_memory_layer_out_of_range(self):
    with self.assertRaisesRegex(ValueError, r'memory layers \[5\]'):
      helpers.tiny_model('spartan', memory=peft.MemorySpec(layers=(5,)))

  def test_top_k_larger_than_parents(self):
    with self.assertRaisesRegex(ValueError, 'top_k'):
      helpers.tiny_model('spartan', memory=peft.MemorySpec(num_parents=4, memory_size=8, top_k=5))

  def test_memory_size_not_divisible(self):
    with self.assertRaisesRegex(ValueError, 'memory_size=50 is not divisible'):
      helpers.tiny_model('spartan', memory=peft.MemorySpec(memory_size=50))


if __name__ == '__main__':
  absltest.main()
