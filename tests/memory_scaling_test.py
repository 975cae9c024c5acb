"""Smoke test of experiments/memory_scaling.py on tiny sizes; its crossover logic on synthetic times."""

import math
import os
import sys

from absl.testing import absltest
from absl.testing import parameterized

# experiments/ is not installed.
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from experiments import common  # pylint: disable=g-import-not-at-top
from experiments import memory_scaling  # pylint: disable=g-import-not-at-top

TINY = dict(tokens=6, hidden=8, top_k=2, temperature=1.6, parents_grid=(2, 4), children_grid=(3,), repeats=2,
            min_time=0.0)


def _rows(times):
  """Rows as `summarize` makes them, from {(E, C): (dense ms, gather ms)} for one mode ('fwd')."""
  return [{'E': e, 'C': c, 'cells': e * c, 'impl': impl, 'fwd': {'ms': ms}}
          for (e, c), pair in times.items() for impl, ms in zip(('dense', 'gather'), pair)]


class MemoryScalingTest(parameterized.TestCase):

  def test_rows_per_config_and_impl(self):
    rows, table, sentence = memory_scaling.memory_scaling(max_gb=4.0, **TINY)
    self.assertEqual([(r['E'], r['C'], r['impl']) for r in rows],
                     [(2, 3, 'dense'), (2, 3, 'gather'), (4, 3, 'dense'), (4, 3, 'gather')])
    for row in rows:
      for mode in memory_scaling.MODES:
        for key in ('ms', 'gflop', 'gb'):
          value = row[mode][key]
          self.assertTrue(math.isfinite(value) and value > 0, f'{row} {mode} {key}={value}')
      self.assertEqual('x_dense' in row['fwd'], row['impl'] == 'gather')
    # Backward costs more than forward.
    self.assertTrue(all(r['fwd+bwd']['gflop'] > r['fwd']['gflop'] for r in rows))
    lines = table.splitlines()
    self.assertLen(lines, 2 + len(rows))
    self.assertTrue(all(line.count('|') == lines[0].count('|') for line in lines))
    self.assertStartsWith(sentence, 'Where gather overtakes dense: fwd: ')
    path = memory_scaling.plot(rows, os.path.join(self.create_tempdir().full_path, 'scaling.png'))
    self.assertGreater(os.path.getsize(path), 0)

  def test_skips_an_impl_over_max_gb(self):
    # Gather's [N, k, C, H] copy is 4 * 6 * 2 * 3 * 8 bytes, dense's [N, E * C] logits 4 * 6 * 12 at most.
    max_gb = 4 * 6 * 2 * 3 * 8 / 1e9 * 0.99
    self.assertLess(memory_scaling.intermediate_gb('dense', 6, 8, 4, 3, 2), max_gb)
    rows, table, sentence = memory_scaling.memory_scaling(max_gb=max_gb, **{**TINY, 'parents_grid': (4,)})
    self.assertEqual([r['impl'] for r in rows], ['dense', 'gather'])
    gather = rows[1:]
    self.assertTrue(all('fwd' not in r and r['skipped_gb'] > max_gb for r in gather))
    self.assertIn('skipped (', table)
    self.assertEqual(sentence, 'Where gather overtakes dense: fwd: no config has both impls; '
                     'fwd+bwd: no config has both impls.')

  def test_time_cases_warms_each_sample(self):
    calls = []
    cases = [memory_scaling.benchmark.Case(name, 'fwd', lambda n=name: calls.append(n), 0.0, 1)
             for name in ('a', 'b')]
    times = common.time_cases(cases, repeats=3, min_time=0.0, settle=True)
    self.assertEqual({k: len(v) for k, v in times.items()}, {('a', 'fwd'): 3, ('b', 'fwd'): 3})
    # Calibration (2 calls each), then per round and case an untimed and a timed call, rotated.
    self.assertEqual(''.join(calls), 'aabb' + 'aabb' + 'bbaa' + 'aabb')

  @parameterized.named_parameters(
      ('clean_switch', [10, 100, 1000, 10000], [1, 2, 3, 4], [2, 3, 2, 1], 1000),
      ('unsorted', [1000, 10, 10000, 100], [3, 1, 4, 2], [2, 2, 1, 3], 1000),
      ('early_win_then_loss', [10, 100, 1000], [5, 1, 9], [1, 2, 3], 1000),
      ('tie_in_cells_with_a_loss', [10, 1000, 1000, 5000], [1, 5, 5, 9], [2, 1, 6, 3], 5000),
      ('tie_in_cells_all_wins', [10, 1000, 1000], [1, 5, 5], [2, 1, 1], 1000),
      ('always', [10, 100], [2, 2], [1, 1], 10),
      ('equal_is_not_faster', [10, 100], [1, 2], [0.5, 2], None),
      ('loses_at_the_top', [10, 100, 1000], [2, 2, 2], [1, 1, 3], None),
  )
  def test_crossover(self, cells, dense, gather, expected):
    self.assertEqual(memory_scaling.crossover(cells, dense, gather), expected)

  def test_crossover_sentence(self):
    # (E, C): (dense ms, gather ms). In cells, gather wins from 1,024 up (and at 48, not 256); in E, from 64
    # up (it loses at E=16, C=16).
    rows = _rows({(16, 3): (2.0, 1.0), (16, 16): (2.0, 3.0), (64, 16): (8.0, 4.0), (256, 4): (40.0, 8.0)})
    rows += [{'E': 1024, 'C': 128, 'cells': 131072, 'impl': 'dense', 'skipped_gb': 5.0}]
    self.assertEqual(
        memory_scaling.crossover_sentence(rows),
        'Where gather overtakes dense: fwd: from E=64 parents up at every C (at <= 0.50x dense) and from '
        '1,024 cells up (it wins 3 of 4 configs); fwd+bwd: no config has both impls.')
    rows = _rows({(16, 3): (2.0, 1.0), (64, 16): (8.0, 9.0)})
    self.assertStartsWith(
        memory_scaling.crossover_sentence(rows),
        'Where gather overtakes dense: fwd: not at every C even at the largest E=64 and not for good in '
        'cells, losing at 1,024 (it wins 1 of 2 configs);')


if __name__ == '__main__':
  absltest.main()
