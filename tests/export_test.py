"""ONNX export: ONNX Runtime's logits equal JAX's for every method on the real MiniLM weights."""

import os

from absl.testing import absltest
from absl.testing import parameterized
import jax
import numpy as np
import onnxruntime as ort

from spartan_jax import export
from spartan_jax import multitask
from spartan_jax import partition
from spartan_jax.models import model as model_lib
from spartan_jax.models import peft
import helpers


def perturbed(params, method, seed):
  """Random trainable leaves, so adapters and LoRA are not the identity."""
  labels = partition.param_labels(params, peft.trainable_rules(method))
  keys = iter(jax.random.split(jax.random.key(seed), len(jax.tree.leaves(params))))
  return jax.tree.map(lambda p, label: p + 0.05 * jax.random.normal(next(keys), p.shape) if label == 'trainable'
                      else p, params, labels)


def run_onnx(path, **inputs):
  session = ort.InferenceSession(path, providers=['CPUExecutionProvider'])
  return session.run(['logits'], inputs)[0]


class ExportTest(parameterized.TestCase):

  @parameterized.parameters(*peft.METHODS)
  def test_onnx_logits_equal_jax(self, method):
    model, params = model_lib.from_pretrained('minilm', method=method, num_labels=3)
    params = perturbed(params, method, seed=1)
    path = export.to_onnx(export.single_task_fn(model, params), os.path.join(self.create_tempdir(), 'm.onnx'))
    config = model.config
    for batch, length in ((2, 12), (3, 20)):  # One graph: batch and sequence are dynamic.
      ids, mask, types = helpers.random_batch(batch, batch, length, config)
      expected = model.apply({'params': params}, ids, mask, types)['logits']
      got = run_onnx(path, input_ids=ids, attention_mask=mask, token_type_ids=types)
      np.testing.assert_allclose(got, expected, atol=1e-4, rtol=0)

  def test_int8_model_runs(self):
    model, params = helpers.tiny_model('spartan')
    directory = self.create_tempdir().full_path
    path = export.to_onnx(export.single_task_fn(model, params), os.path.join(directory, 'm.onnx'))
    int8 = export.quantize(path, os.path.join(directory, 'm.int8.onnx'))
    ids, mask, types = helpers.random_batch(0, 2, 8)
    got = run_onnx(int8, input_ids=ids, attention_mask=mask, token_type_ids=types)
    self.assertEqual(got.shape, (2, 3))
    self.assertTrue(np.isfinite(got).all())

  def test_multitask_onnx_equals_jax(self):
    params = [perturbed(helpers.tiny_model('spartan', num_labels=n)[1], 'spartan', seed=n) for n in (3, 2)]
    stacked = multitask.stack_params(helpers.tiny_model('spartan')[0], 'spartan', params)
    fn = multitask.make_logits_fn(stacked)
    path = export.to_onnx(fn, os.path.join(self.create_tempdir(), 'm.onnx'), multitask_inputs=True)
    ids, mask, types = helpers.random_batch(0, 5, 10)
    task_ids = np.array([1, 0, 0, 1, 1], np.int32)
    got = run_onnx(path, input_ids=ids, attention_mask=mask, token_type_ids=types, task_ids=task_ids)
    np.testing.assert_allclose(got, fn(ids, mask, types, task_ids), atol=1e-5, rtol=0)


if __name__ == '__main__':
  absltest.main()
