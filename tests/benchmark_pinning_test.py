"""experiments/benchmark_pinning.py's orchestration, with stand-in workers that report their CPU count."""

import os
import shutil
import sys

from absl.testing import absltest

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # experiments/ is not installed.
from experiments import benchmark_pinning  # pylint: disable=g-import-not-at-top

# Says it is ready, waits for go, then "measures" the number of CPUs it may run on.
_WORKER = ('import os, sys, time; d, i = sys.argv[1:]; open(os.path.join(d, "ready" + i), "w").close()\n'
           'while not os.path.exists(os.path.join(d, "go")): time.sleep(0.01)\n'
           'print(float(len(os.sched_getaffinity(0))))')


def worker(directory, index):
  return [sys.executable, '-c', _WORKER, directory, str(index)]


@absltest.skipUnless(hasattr(os, 'sched_getaffinity') and shutil.which('taskset'), 'needs Linux taskset')
class PinningTest(absltest.TestCase):

  def test_pinned_workers_run_on_their_slice_and_free_ones_on_every_cpu(self):
    cpu = min(os.sched_getaffinity(0))
    slices = [[cpu], [cpu]]
    self.assertEqual(benchmark_pinning.run_round(worker, slices, pinned=True), [1.0, 1.0])
    everything = float(len(os.sched_getaffinity(0)))
    self.assertEqual(benchmark_pinning.run_round(worker, slices, pinned=False), [everything, everything])
    rates = benchmark_pinning.measure(worker, slices, rounds=2)
    self.assertEqual(rates, {'free': [2 * everything] * 2, 'pinned': [2.0, 2.0]})
    table = benchmark_pinning.format_table(rates, slices)
    self.assertIn(f'Pinned / free: **{2.0 / (2 * everything):.3f}×**', table)
    self.assertIn('| pinned | 2.000 2.000 | 2.000 |', table)

  def test_a_round_leaves_no_folder_behind(self):
    directories = []
    recording = lambda directory, i: directories.append(directory) or worker(directory, i)
    benchmark_pinning.run_round(recording, [[min(os.sched_getaffinity(0))]], pinned=True)
    self.assertLen(directories, 1)
    self.assertFalse(os.path.exists(directories[0]))

  def test_a_worker_that_dies_before_it_is_ready_is_an_error_with_its_log(self):
    dying = lambda directory, i: [sys.executable, '-c', 'import sys; sys.exit("no weights here")']
    with self.assertRaisesRegex(RuntimeError, r'Worker 0 exited \(1\) before it was ready:\nno weights here'):
      benchmark_pinning.run_round(dying, [[0]], pinned=False)


if __name__ == '__main__':
  absltest.main()
