"""Smoke test of experiments/benchmark_shapes.py on a tiny encoder (one round, no timing asserts); its
SPARTAN-against-adapter ratios on synthetic times."""

import csv
import dataclasses
import io
import math
import os
import sys

from absl.testing import absltest

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # experiments/ is not installed.
from experiments import benchmark_shapes  # pylint: disable=g-import-not-at-top
import helpers

TINY = dataclasses.replace(helpers.TINY_BERT, num_hidden_layers=1)
VARIANTS = ('backbone', 'spartan_dense', 'houlsby', 'full')


class BenchmarkShapesTest(absltest.TestCase):

  def test_rows_tables_csv_and_plot(self):
    shapes = [(1, 8), (2, 4)]
    rows = benchmark_shapes.measure(TINY, shapes, VARIANTS, repeats=1, min_time=0.0, log=lambda _: None)
    self.assertEqual([(r['batch'], r['length'], r['variant']) for r in rows],
                     [(b, l, v) for b, l in shapes for v in VARIANTS])
    for r in rows:
      for key in ('infer_ex_s', 'infer_gflop', 'infer_gb', 'train_ms', 'train_gflop', 'train_gb'):
        self.assertTrue(math.isfinite(r[key]) and r[key] > 0, f'{r["variant"]} {key}={r[key]}')
      self.assertEqual('vs_houlsby' in r, r['variant'] == 'spartan_dense')
      self.assertNotIn('vs_pfeiffer', r)  # Not measured.
    # More tokens, more FLOPs: 2x4 has as many tokens as 1x8, so compare a variant with itself only.
    full = {(r['batch'], r['length']): r for r in rows if r['variant'] == 'full'}
    self.assertGreater(full[(1, 8)]['train_gflop'], full[(1, 8)]['infer_gflop'])

    tables = benchmark_shapes.format_tables(rows)
    long_table, versus_table = tables.split('\n\n', 1)
    lines = long_table.splitlines()
    self.assertLen(lines, 2 + len(rows))
    self.assertTrue(all(line.count('|') == lines[0].count('|') for line in lines))
    self.assertIn('| 2×4 | spartan_dense |', long_table)
    versus_lines = [l for l in versus_table.splitlines() if l.startswith('|')]
    self.assertLen(versus_lines, 2 + len(shapes))
    self.assertIn('infer × houlsby | train × houlsby', versus_lines[0])

    table = list(csv.reader(io.StringIO(benchmark_shapes.to_csv(rows))))
    self.assertEqual(tuple(table[0]), benchmark_shapes.CSV_FIELDS)
    self.assertLen(table, 1 + len(rows))
    path = benchmark_shapes.plot(rows, os.path.join(self.create_tempdir().full_path, 'shapes.png'))
    self.assertGreater(os.path.getsize(path), 0)

  def test_without_the_baselines(self):
    rows = benchmark_shapes.measure(TINY, [(1, 4)], ('spartan_dense', 'houlsby'), repeats=1, min_time=0.0,
                                    log=lambda _: None)
    self.assertNotIn('train_ratio', rows[0])
    table = list(csv.reader(io.StringIO(benchmark_shapes.to_csv(rows))))
    self.assertEqual(table[1][benchmark_shapes.CSV_FIELDS.index('train_ratio')], '')
    self.assertIn('| 1×4 | spartan_dense |', benchmark_shapes.format_tables(rows))
    benchmark_shapes.plot(rows, os.path.join(self.create_tempdir().full_path, 'shapes.png'))

  def test_versus_on_synthetic_times(self):
    # SPARTAN takes 2 s to infer where houlsby takes 3 (1.5x the throughput), and trains in 1 s against 4.
    times = {('spartan_dense', 'infer'): [2.0, 2.0, 2.0], ('houlsby', 'infer'): [3.0, 3.0, 3.0],
             ('spartan_dense', 'train'): [1.0, 1.0, 2.0], ('houlsby', 'train'): [4.0, 4.0, 4.0]}
    result = benchmark_shapes.versus(times, 'spartan_dense', 'houlsby')
    self.assertEqual(result['infer'], (1.5, 1.5, 1.5))
    self.assertEqual(result['train'][0], 0.25)
    self.assertEqual(result['train'][2], 0.375)  # 75th percentile of (0.25, 0.25, 0.5).

  def test_parse_shape(self):
    self.assertEqual(benchmark_shapes.parse_shape('16x128'), (16, 128))
    self.assertEqual(benchmark_shapes.parse_shape('1X32'), (1, 32))
    for bad in ('16', '16x', 'ax2', '0x8', '16x128x2'):
      with self.assertRaisesRegex(ValueError, 'shape|Shape'):
        benchmark_shapes.parse_shape(bad)


if __name__ == '__main__':
  absltest.main()
