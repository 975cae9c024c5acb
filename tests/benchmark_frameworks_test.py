"""experiments/benchmark_frameworks.py: the workers agree on the same weights; the ratios are the right way up."""

import os
import sys

from absl.testing import absltest
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # experiments/ is not installed.
from experiments import benchmark_frameworks as bf  # pylint: disable=g-import-not-at-top
import helpers


class SummarizeTest(absltest.TestCase):

  def test_ratios(self):
    fwd, step = bf.forward_case(4, 8), bf.train_case(4, 8)
    times = {('torch', fwd, 'backbone'): [2.0, 4.0, 2.0], ('jax', fwd, 'backbone'): [1.0, 1.0, 1.0],
             ('jax', fwd, 'spartan'): [1.25, 1.25, 1.25],
             ('torch', step, 'head+LN'): [3.0] * 3, ('jax', step, 'head+LN'): [6.0] * 3,
             ('jax', step, 'spartan'): [1.5] * 3, ('jax', step, 'full'): [2.0] * 3}
    rows = {r['case']: r for r in bf.summarize(times, {fwd: 4, step: 4})}
    self.assertAlmostEqual(rows[fwd]['ratios']['jax / torch'][0], 2.0)  # Median of per-round 2, 4, 2.
    self.assertAlmostEqual(rows[fwd]['ratios']['spartan / jax backbone'][0], 0.8)
    self.assertAlmostEqual(rows[fwd]['ex_s']['torch backbone'], 2.0)
    self.assertAlmostEqual(rows[step]['ratios']['jax / torch'][0], 0.5)
    self.assertAlmostEqual(rows[step]['ratios']['spartan step / full step'][0], 0.75)
    self.assertAlmostEqual(rows[step]['ratios']['spartan / torch head+LN'][0], 2.0)
    self.assertNotIn('spartan step / full step', rows[fwd]['ratios'])
    self.assertLen(bf.format_table(list(rows.values())).splitlines(), 4)

  def test_bad_shape(self):
    self.assertEqual(bf.parse_shape('16x128'), (16, 128))
    with self.assertRaisesRegex(ValueError, 'BATCHxLENGTH'):
      bf.parse_shape('16,128')


class WorkersTest(absltest.TestCase):

  def test_torch_and_jax_agree_and_time(self):
    hf_config, _, state = helpers.load_golden('bert')
    path = helpers.write_checkpoint(self.create_tempdir().full_path, hf_config, state)
    with open(os.path.join(self.create_tempdir().full_path, 'log'), 'w') as log:
      rows, max_diff = bf.measure(path, bf.WORKERS, shapes=((2, 8),), train_shape=(2, 8), repeats=2,
                                  min_time=0.0, log=log)
    self.assertLess(max_diff, 1e-4)  # The same weights in every worker, with or without YNNPACK.
    self.assertEqual([r['case'] for r in rows], ['forward 2x8', 'train 2x8'])
    self.assertEqual(set(rows[1]['ms']), {'torch head+LN'} | {f'{k} {n}' for k in ('jax', 'jax_ynn')
                                                              for n in ('head+LN', 'spartan', 'full')})
    for r in rows:
      self.assertTrue(all(np.isfinite(v) and v > 0 for v in r['ms'].values()))


if __name__ == '__main__':
  absltest.main()
