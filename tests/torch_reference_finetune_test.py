"""experiments/torch_reference_finetune.py: which runs it repeats, and a short repeat on real RTE."""

import json
import os
import sys

from absl.testing import absltest
import ml_collections

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # experiments/ is not installed.
from experiments import torch_reference_finetune as reference  # pylint: disable=g-import-not-at-top
from spartan_jax.data import tasks as tasks_lib
import helpers
import shared_data


def _config(**overrides):
  config = ml_collections.ConfigDict(helpers.load_config('glue.py:rte,method=full,model=minilm,runlocal=True')
                                     .to_dict())
  config.data.glue_dir = shared_data.require('glue')
  for key, value in overrides.items():
    section, field = key.split('__')
    config[section][field] = value
  return config


class TorchReferenceFinetuneTest(absltest.TestCase):

  def test_only_full_fine_tuning_with_mean_pooling_is_repeated(self):
    reference.check_run(_config())
    with self.assertRaisesRegex(ValueError, r"method.name='spartan' \(needs 'full'\), model.pooling='cls_pooler' "
                                r"\(needs 'mean'\).*Give another --run"):
      reference.check_run(_config(method__name='spartan', model__pooling='cls_pooler'))

  def test_an_unfinished_run_is_refused(self):
    run = self.create_tempdir().full_path
    with open(os.path.join(run, 'config.json'), 'w') as f:
      json.dump(_config().to_dict(), f)
    with self.assertRaisesRegex(FileNotFoundError, 'is not a finished run: no .*results.json'):
      reference.load_run(run)

  def test_a_short_repeat_evaluates_at_the_runs_steps_and_renders_beside_it(self):
    import torch  # pylint: disable=g-import-not-at-top  # Here, not at collection: xdist workers stay torch-free.
    torch.set_num_threads(1)  # Beside the suite's other workers, more threads only contend.
    config = _config(train__eval_batch_size=64)
    theirs = reference.finetune(config, tasks_lib.get_task('rte'), log=lambda line: None)
    self.assertEqual([step for step, _ in theirs['dev']], [2, 4])  # runlocal: 4 steps, eval every 2.
    self.assertEqual(set(theirs['test']), {'validation'})
    self.assertBetween(theirs['test_score'], 0.3, 0.7)  # 277 RTE pairs after 4 steps: near chance.
    ours = dict(theirs, best_step=4, best_dev_score=0.5)
    text = reference.to_markdown('run', ours, {2: 0.25, 4: 0.5}, theirs, 'cmd', 0.0)
    self.assertIn(f"| 2 | 25.0 | {100 * theirs['dev'][0][1]:.1f} |", text)
    self.assertIn('| spartan_jax | 4 | 50.0 |', text)


if __name__ == '__main__':
  absltest.main()
