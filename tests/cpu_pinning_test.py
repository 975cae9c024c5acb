"""experiments/cpu_pinning.py: CPU slices for sweep workers."""

import os
import shutil
import sys
from unittest import mock

from absl.testing import absltest

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # experiments/ is not installed.
from experiments import cpu_pinning  # pylint: disable=g-import-not-at-top


class CpuPinningTest(absltest.TestCase):

  def test_cpus_are_split_into_one_disjoint_slice_per_worker(self):
    with mock.patch.object(os, 'sched_getaffinity', return_value={4, 0, 3, 1, 2}, create=True), \
         mock.patch.object(shutil, 'which', return_value='/usr/bin/taskset'):
      self.assertEqual(cpu_pinning.cpu_slices(2), [[0, 1], [2, 3]])
      self.assertEqual(cpu_pinning.cpu_slices(5), [[0], [1], [2], [3], [4]])
      self.assertIsNone(cpu_pinning.cpu_slices(6))
    with mock.patch.object(shutil, 'which', return_value=None):
      self.assertIsNone(cpu_pinning.cpu_slices(1))

  def test_pin_prefix(self):
    self.assertEqual(cpu_pinning.pin_prefix([2, 3]), ['taskset', '--cpu-list', '2,3'])
    self.assertEqual(cpu_pinning.pin_prefix(None), [])


if __name__ == '__main__':
  absltest.main()
