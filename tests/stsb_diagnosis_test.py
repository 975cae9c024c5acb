"""experiments.stsb_diagnosis: batched features against one-by-one numpy, and the diagnosis on fake features."""

import os
import sys
import tempfile

from absl.testing import absltest
import numpy as np
import transformers

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # experiments/ is not installed.
from experiments import stsb_diagnosis  # pylint: disable=g-import-not-at-top
from spartan_jax.models import model as model_lib
import helpers
import shared_data

EXAMPLES = [dict(idx=i, text_a=a, text_b=b, label=float(i)) for i, (a, b) in enumerate(
    [('A man plays a guitar.', 'A man is playing music.'), ('Short.', 'A much longer second sentence here.'),
     ('Cats sleep.', 'Dogs bark loudly at night.')])]


class FeaturesTest(absltest.TestCase):

  def test_batched_features_equal_each_unpadded_example_in_numpy(self):
    checkpoint = helpers.tiny_checkpoint_with_minilm_tokenizer(tempfile.mkdtemp(prefix='tiny_bert'))
    batched = stsb_diagnosis.make_features(checkpoint)(EXAMPLES, as_pairs=True)
    model, params = model_lib.from_pretrained(checkpoint, 'head_only', num_labels=1, pooling='cls_pooler')
    tokenizer = transformers.AutoTokenizer.from_pretrained(checkpoint)
    pooler = params['head']['pooler']
    for i, e in enumerate(EXAMPLES):  # Length-sorted, padded batches must map back to each example.
      enc = tokenizer(e['text_a'], e['text_b'], return_tensors='np')
      hidden = np.asarray(model.apply({'params': params}, enc['input_ids'], enc['attention_mask'],
                                      enc['token_type_ids'])['last_hidden_state'][0], np.float64)
      np.testing.assert_allclose(batched['mean'][i], hidden.mean(0), atol=1e-5)
      np.testing.assert_allclose(batched['cls_pooler'][i], np.tanh(hidden[0] @ pooler['kernel'] + pooler['bias']),
                                 atol=1e-5)


class DiagnoseTest(absltest.TestCase):

  def test_features_that_encode_the_label_are_found_by_the_probes(self):
    glue = shared_data.require('glue')
    dev = stsb_diagnosis.sources.load_examples('stsb', 'validation', 'tsv', glue_dir=glue)
    label_of = {e['text_a']: e['label'] for e in dev}
    rng = np.random.default_rng(0)
    base = rng.normal(size=8)

    def features(examples, as_pairs):
      """Pairs: noise. Sentences alone: the first sentence points away from `base` as its label falls."""
      out = rng.normal(size=(len(examples), 8))
      if not as_pairs:
        for row, e in zip(out, examples):
          row[:] = base + (5 - label_of.get(e['text_a'], 5)) * row if e['text_a'] in label_of else base
      return {'mean': out, 'cls_pooler': out}

    train = stsb_diagnosis.sources.load_examples('stsb', 'train', 'tsv', glue_dir=glue)
    label_of.update({e['text_a']: e['label'] for e in train})
    results = stsb_diagnosis.diagnose(glue, ['13'], features)
    self.assertLess(abs(results['pair, mean'][0][0]), 10)  # Noise: no correlation.
    self.assertGreater(results['apart, cosine'][0][0], 30)
    text = stsb_diagnosis.to_markdown(results, ['13'], 'cmd')
    self.assertIn('| apart, cosine | nothing |', text)


if __name__ == '__main__':
  absltest.main()
