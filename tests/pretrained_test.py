"""Hugging Face checkpoint names → our paths, checkpoint resolution, and loading errors."""

import os
from unittest import mock

from absl.testing import absltest
from absl.testing import parameterized
import jax
import numpy as np

from spartan_jax.models import model as model_lib
from spartan_jax.models import pretrained
import helpers


class NameMappingTest(parameterized.TestCase):

  @parameterized.parameters(
      ('bert.embeddings.word_embeddings.weight', 'encoder/embeddings/word_embeddings/embedding'),
      ('embeddings.LayerNorm.gamma', 'encoder/embeddings/layer_norm/scale'),
      ('roberta.encoder.layer.11.attention.self.value.weight', 'encoder/layer_11/attention/value/kernel'),
      ('encoder.layer.0.attention.output.LayerNorm.bias', 'encoder/layer_0/attention_layer_norm/bias'),
      ('bert.encoder.layer.3.output.LayerNorm.weight', 'encoder/layer_3/output_layer_norm/scale'),
      ('bert.encoder.layer.3.intermediate.dense.bias', 'encoder/layer_3/intermediate/bias'),
      ('bert.pooler.dense.weight', 'head/pooler/kernel'),
      ('classifier.out_proj.bias', 'head/out_proj/bias'),
      ('classifier.weight', 'head/classifier/kernel'),
      ('embeddings.position_ids', None),
      ('lm_head.dense.weight', None),
  )
  def test_flax_name(self, hf_name, expected):
    self.assertEqual(pretrained.flax_name(hf_name), expected)

  def test_linear_weights_are_transposed(self):
    w = np.arange(6, dtype=np.float32).reshape(2, 3)
    flat = pretrained.convert_state_dict({'bert.encoder.layer.0.output.dense.weight': w})
    np.testing.assert_array_equal(flat['encoder/layer_0/output/kernel'], w.T)


class LoadingTest(parameterized.TestCase):

  def setUp(self):
    super().setUp()
    self.hf_config, _, self.state = helpers.load_golden('bert')

  def test_hub_id_is_downloaded_with_huggingface_hub(self):
    local = helpers.write_checkpoint(self.create_tempdir().full_path, self.hf_config, self.state)
    with mock.patch('huggingface_hub.snapshot_download', return_value=local) as download:
      self.assertEqual(pretrained.resolve_checkpoint('org/tiny-bert'), local)
    self.assertEqual(download.call_args.args, ('org/tiny-bert',))
    self.assertIn('*.safetensors', download.call_args.kwargs['allow_patterns'])

  def test_checkpoint_without_safetensors(self):
    directory = self.create_tempdir().full_path
    open(os.path.join(directory, 'pytorch_model.bin'), 'wb').close()
    with self.assertRaisesRegex(FileNotFoundError, 'no \\*.safetensors.*save_pretrained'):
      pretrained.resolve_checkpoint(directory)

  def test_missing_directory(self):
    with self.assertRaisesRegex(FileNotFoundError, 'not a directory'):
      pretrained.resolve_checkpoint('./no/such/checkpoint')

  def test_shape_mismatch_between_checkpoint_and_config(self):
    config = dict(self.hf_config, intermediate_size=40)
    path = helpers.write_checkpoint(self.create_tempdir().full_path, config, self.state)
    with self.assertRaisesRegex(ValueError, r'Shape mismatch for encoder/layer_0/intermediate/(kernel|bias)'):
      model_lib.from_pretrained(path, 'head_only', num_labels=3)

  def test_checkpoint_with_more_layers_than_config(self):
    path = helpers.write_checkpoint(self.create_tempdir().full_path, dict(self.hf_config, num_hidden_layers=1),
                                    self.state)
    with self.assertRaisesRegex(ValueError, 'parameters this model does not.*layer_1'):
      model_lib.from_pretrained(path, 'head_only', num_labels=3)

  def test_checkpoint_missing_backbone_params(self):
    state = {k: v for k, v in self.state.items() if 'layer.1.' not in k}
    path = helpers.write_checkpoint(self.create_tempdir().full_path, self.hf_config, state)
    with self.assertRaisesRegex(ValueError, 'lacks backbone parameters.*layer_1'):
      model_lib.from_pretrained(path, 'head_only', num_labels=3)

  def test_new_head_size_keeps_a_fresh_head(self):
    path = helpers.write_checkpoint(self.create_tempdir().full_path, self.hf_config, self.state)
    _, params = model_lib.from_pretrained(path, 'head_only', num_labels=5)
    self.assertEqual(params['head']['classifier']['kernel'].shape, (32, 5))
    np.testing.assert_array_equal(params['head']['pooler']['kernel'], self.state['bert.pooler.dense.weight'].T)

  def test_params_are_on_the_device(self):
    # numpy leaves would be copied host to device on every jitted call (2x the latency at 1x128).
    path = helpers.write_checkpoint(self.create_tempdir().full_path, self.hf_config, self.state)
    _, params = model_lib.from_pretrained(path, 'spartan', num_labels=2)
    self.assertEqual({type(x) for x in jax.tree.leaves(params) if not isinstance(x, jax.Array)}, set())

  def test_unknown_method_fails_before_loading(self):
    with mock.patch.object(pretrained, 'resolve_checkpoint', side_effect=AssertionError('too late')):
      with self.assertRaisesRegex(ValueError, 'Unknown method'):
        model_lib.from_pretrained('org/any', 'prompt_tuning', num_labels=2)


if __name__ == '__main__':
  absltest.main()
