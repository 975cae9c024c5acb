"""Smoke test of experiments/benchmark.py on a tiny encoder: one round, no timing asserts."""

import dataclasses
import math
import os
import sys

from absl.testing import absltest
from absl.testing import parameterized
import jax

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # experiments/ is not installed.
from experiments import benchmark  # pylint: disable=g-import-not-at-top
from experiments import common  # pylint: disable=g-import-not-at-top
import helpers

TINY = dataclasses.replace(helpers.TINY_BERT, num_hidden_layers=1)  # Compiles dominate: keep it small.


def _numbers(row):
  for key, value in row.items():
    if key.endswith('_ratio'):
      yield key, value[0]
    elif isinstance(value, (int, float)) and key != 'trainable':
      yield key, value


class BenchmarkTest(parameterized.TestCase):

  def _check(self, rows, table, variants):
    self.assertEqual([r['variant'] for r in rows], list(variants))
    for row in rows:
      self.assertGreater(row['trainable'], 0)
      for key, value in _numbers(row):
        self.assertTrue(math.isfinite(value) and value > 0, f'{row["variant"]} {key}={value}')
    lines = table.splitlines()
    self.assertLen(lines, 2 + len(variants))
    for line, variant in zip(lines[2:], variants):
      self.assertStartsWith(line, f'| {variant} |')
      self.assertEqual(line.count('|'), lines[0].count('|'))

  def test_every_default_row(self):
    rows, table = benchmark.benchmark(TINY, benchmark.DEFAULT_VARIANTS, batch=2, small_batch=0, length=8,
                                      repeats=1, min_time=0.0, dropout_cost=False, grad_check=False)
    self._check(rows, table, benchmark.DEFAULT_VARIANTS)
    by_name = {r['variant']: r for r in rows}
    self.assertEqual(by_name['backbone']['infer_ratio'][0], 1.0)
    self.assertEqual(by_name['full']['train_ratio'][0], 1.0)
    self.assertLess(by_name['backbone']['trainable'], by_name['full']['trainable'])

  def test_dropout_and_gradient_columns(self):
    variants = ('backbone', 'spartan_dense', 'full')
    rows, table = benchmark.benchmark(TINY, variants, batch=2, small_batch=1, length=8, repeats=1,
                                      min_time=0.0)
    self._check(rows, table, variants)
    for row in rows:
      self.assertIn('dropout_ratio', row)
      self.assertIn('infer_small_ratio', row)
      # XLA drops the gradients of frozen weights: the real step costs what differentiating only the
      # trainable subtree costs.
      self.assertAlmostEqual(row['grad_trainable_gflop'], row['train_no_dropout_gflop'],
                             delta=0.02 * row['train_no_dropout_gflop'])
    by_name = {r['variant']: r for r in rows}
    self.assertLess(by_name['backbone']['train_no_dropout_gflop'], by_name['full']['train_no_dropout_gflop'])

  def test_unknown_row(self):
    with self.assertRaisesRegex(ValueError, 'nope'):
      benchmark.benchmark(TINY, ('backbone', 'nope'))

  def test_helpers(self):
    self.assertEqual(benchmark.encoder_config('roberta-base').hidden_size, 768)
    self.assertEqual(benchmark.encoder_config('minilm').num_hidden_layers, 6)
    self.assertIn(jax.__version__, common.machine_line())
    self.assertIn(f"XLA_FLAGS '{os.environ['XLA_FLAGS']}'", common.machine_line())
    batch = benchmark.make_batch(TINY, 3, 5)
    self.assertEqual({k: v.shape for k, v in batch.items()},
                     {'input_ids': (3, 5), 'attention_mask': (3, 5), 'token_type_ids': (3, 5), 'label': (3,),
                      'mask': (3,)})


if __name__ == '__main__':
  absltest.main()
