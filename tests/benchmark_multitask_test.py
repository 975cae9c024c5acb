"""Smoke test of experiments/benchmark_multitask.py on a tiny encoder (one round, no timing asserts)."""

import math
import os
import sys

from absl.testing import absltest

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # experiments/ is not installed.
from experiments import benchmark_multitask  # pylint: disable=g-import-not-at-top
import helpers


class BenchmarkMultitaskTest(absltest.TestCase):

  def test_result_and_table(self):
    r = benchmark_multitask.measure(helpers.TINY_BERT, 'spartan', num_tasks=4, batch=8, length=8, repeats=1,
                                    min_time=0.0)
    for key in ('mixed_ms', 'grouped_ms'):
      self.assertTrue(math.isfinite(r[key]) and r[key] > 0)
    self.assertEqual(r['tasks'], 4)
    self.assertLess(r['shared_bytes'], r['separate_bytes'])
    self.assertIn('Mixed throughput × grouped', benchmark_multitask.format_result(r, 'spartan', 8, 8))

  def test_batch_must_split_over_tasks(self):
    models = benchmark_multitask.task_models(helpers.TINY_BERT, 'spartan', 3)
    with self.assertRaisesRegex(ValueError, 'multiple of the 3 tasks'):
      benchmark_multitask.build_cases(models, 'spartan', 8, 8, helpers.TINY_BERT.vocab_size)


if __name__ == '__main__':
  absltest.main()
