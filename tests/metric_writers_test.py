"""MetricWriter: JSON lines, and a resumed run logs every step once."""

import json
import os

from absl.testing import absltest

from spartan_jax import metric_writers


def _steps(workdir):
  with open(os.path.join(workdir, 'metrics.jsonl')) as f:
    return [json.loads(line)['step'] for line in f]


class MetricWriterTest(absltest.TestCase):

  def test_resume_drops_the_steps_after_the_checkpoint(self):
    workdir = self.create_tempdir().full_path
    writer = metric_writers.MetricWriter(workdir)
    for step in range(1, 6):  # Killed after logging step 5; the last checkpoint was step 3.
      writer.write(step, {'train/loss': 1.0 / step})
    writer.write(5, {'dev/score': 0.5})
    writer.close()
    writer = metric_writers.MetricWriter(workdir, start_step=3)
    self.assertEqual(_steps(workdir), [1, 2, 3])
    for step in (4, 5):
      writer.write(step, {'train/loss': 2.0})
    writer.close()
    self.assertEqual(_steps(workdir), [1, 2, 3, 4, 5])
    with open(os.path.join(workdir, 'metrics.jsonl')) as f:
      records = [json.loads(line) for line in f]
    self.assertEqual(records[2], {'step': 3, 'train/loss': 1.0 / 3})
    self.assertEqual(records[4], {'step': 5, 'train/loss': 2.0})
    self.assertNotEqual(os.listdir(os.path.join(workdir, 'tensorboard')), [])

  def test_fresh_run_appends(self):
    workdir = self.create_tempdir().full_path
    for _ in range(2):  # start_step 0: nothing is dropped.
      writer = metric_writers.MetricWriter(workdir, start_step=0)
      writer.write(1, {'x': 1})
      writer.close()
    self.assertEqual(_steps(workdir), [1, 1])


if __name__ == '__main__':
  absltest.main()
