"""experiments/int8_agreement.py on a tiny BERT with MiniLM's tokenizer (no accuracy asserted)."""

import os
import sys

from absl.testing import absltest
import transformers

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # experiments/ is not installed.
from experiments import int8_agreement  # pylint: disable=g-import-not-at-top
from spartan_jax import export
from spartan_jax import inference
from spartan_jax.data import tasks
from spartan_jax.models import model as model_lib
import helpers


class Int8AgreementTest(absltest.TestCase):

  def test_report_fields(self):
    checkpoint_dir = helpers.tiny_checkpoint_with_minilm_tokenizer(os.path.join(self.create_tempdir(), 'ckpt'))
    model, params = model_lib.from_pretrained(checkpoint_dir, 'spartan', 2)
    run = inference.Run(workdir='', task=tasks.get_task('sst2'), method='spartan', backbone=checkpoint_dir,
                        model=model, params=params,
                        tokenizer=transformers.AutoTokenizer.from_pretrained(checkpoint_dir), max_length=16)
    out = self.create_tempdir().full_path
    path = export.to_onnx(export.single_task_fn(model, params), os.path.join(out, 'model.onnx'))
    export.quantize(path, os.path.join(out, 'model.int8.onnx'))
    texts = ['a fine film .', 'dull .', 'it is long and it never ends .', 'yes']
    examples = [{'idx': i, 'text_a': t, 'text_b': None, 'label': i % 2} for i, t in enumerate(texts)]
    r = int8_agreement.agreement(run, out, examples)
    self.assertEqual(r['examples'], 4)
    self.assertBetween(r['agreement'], 0.0, 1.0)
    self.assertEqual(set(r['fp32']), {'accuracy'})
    self.assertGreaterEqual(r['max_abs_logit_diff'], 0.0)


if __name__ == '__main__':
  absltest.main()
