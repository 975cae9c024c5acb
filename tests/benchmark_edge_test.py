"""Smoke test of experiments/benchmark_edge.py on a tiny encoder (one round, no timing asserts)."""

import dataclasses
import math
import os
import sys

from absl.testing import absltest

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # experiments/ is not installed.
from experiments import benchmark_edge  # pylint: disable=g-import-not-at-top
import helpers

TINY = dataclasses.replace(helpers.TINY_BERT, num_hidden_layers=1)


class BenchmarkEdgeTest(absltest.TestCase):

  def test_rows_and_table(self):
    variants = ('backbone', 'spartan_dense', 'houlsby')
    rows = benchmark_edge.measure(TINY, variants, threads=(1,), lengths=(8,), repeats=1, min_time=0.0,
                                  log=lambda _: None)
    self.assertEqual([(r['precision'], r['variant']) for r in rows],
                     [(p, v) for p in ('fp32', 'int8') for v in variants])
    for r in rows:
      self.assertTrue(math.isfinite(r['ex_s']) and r['ex_s'] > 0)
      self.assertGreater(r['rss_mib'], 0)
      self.assertEqual('vs_houlsby' in r, r['variant'] == 'spartan_dense')
      self.assertNotIn('vs_pfeiffer', r)  # Not measured.
    self.assertLen(benchmark_edge.format_table(rows).splitlines(), 2 + len(rows))


if __name__ == '__main__':
  absltest.main()
