"""Two local CPU processes (jax.distributed, gloo collectives) train as one: the same params and test metrics
as one process on the same global batch, and a run killed after its first checkpoint resumes to them."""

import json
import os
import socket
import subprocess
import sys
import tempfile

from absl.testing import absltest
import numpy as np
from flax import traverse_util

from spartan_jax import checkpoint
from spartan_jax import sharding
from spartan_jax import train
import helpers
import shared_data

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TIMEOUT_S = 300  # Per run of two processes; a run here takes about 30 s on 2 busy cores.
# `spartan_jax.main` whose processes exit as if killed once their first checkpoint is written.
_DIE_AFTER_FIRST_SAVE = '''
import os
from absl import app, flags
from spartan_jax import checkpoint, main
save = checkpoint.save
def save_then_die(*args, **kwargs):
  save(*args, **kwargs)
  os._exit(9)
checkpoint.save = save_then_die
flags.mark_flag_as_required('config')
app.run(main.main)
'''


def _free_port() -> int:
  with socket.socket() as s:
    s.bind(('localhost', 0))
    return s.getsockname()[1]


class MultiProcessTest(absltest.TestCase):

  @classmethod
  def setUpClass(cls):
    super().setUpClass()
    cls.glue_dir = shared_data.require('glue')
    cls.checkpoint_dir = helpers.tiny_checkpoint_with_minilm_tokenizer(tempfile.mkdtemp(prefix='tiny_bert'))
    cls.overrides = [f'--config.model.checkpoint={cls.checkpoint_dir}', f'--config.data.glue_dir={cls.glue_dir}',
                     '--config.train.num_steps=6']

  def _run_two_processes(self, workdir, die_after_first_save=False):
    """Runs the config as processes 0 and 1 of one job; returns their exit codes and outputs."""
    entry = ['-c', _DIE_AFTER_FIRST_SAVE] if die_after_first_save else ['-m', 'spartan_jax.main']
    common = [sys.executable, *entry, '--config=configs/glue.py:rte,k=16,seed=13,runlocal', *self.overrides,
              f'--workdir={workdir}', f'--coordinator_address=localhost:{_free_port()}', '--num_processes=2']
    env = dict(os.environ, JAX_PLATFORMS='cpu')
    processes = [subprocess.Popen(common + [f'--process_id={i}'], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT, text=True) for i in range(2)]
    try:
      outputs = [p.communicate(timeout=TIMEOUT_S)[0] for p in processes]
    finally:
      for p in processes:
        if p.poll() is None:
          p.kill()
          p.wait()
    return [p.returncode for p in processes], outputs

  def _check_run(self, workdir, reference):
    with open(os.path.join(workdir, 'results.json')) as f:
      results = json.load(f)
    self.assertEqual(results['best_step'], reference['best_step'])
    self.assertLen(results['devices'], 2)
    for name, metrics in reference['test'].items():
      for key, value in metrics.items():
        self.assertAlmostEqual(results['test'][name][key], value, delta=1e-5, msg=f'{name}/{key}')
    ours, expected = (traverse_util.flatten_dict(checkpoint.load_delta(os.path.join(w, 'delta.safetensors'))[0],
                                                 sep='/') for w in (workdir, reference['workdir']))
    for path, value in expected.items():
      np.testing.assert_allclose(ours[path], value, atol=1e-5, err_msg=path)
    steps = [json.loads(line)['step'] for line in open(os.path.join(workdir, 'metrics.jsonl'))]
    self.assertEqual(steps, [json.loads(line)['step']
                             for line in open(os.path.join(reference['workdir'], 'metrics.jsonl'))])

  def test_two_processes_match_one_and_resume_after_a_kill(self):
    config = helpers.load_config('glue.py:rte,k=16,seed=13,runlocal')
    config.model.checkpoint, config.data.glue_dir = self.checkpoint_dir, self.glue_dir
    config.train.num_steps = 6
    reference = {'workdir': self.create_tempdir().full_path}
    reference.update(train.train_and_evaluate(config, reference['workdir']))  # One process, 4 devices.

    straight = self.create_tempdir().full_path
    codes, outputs = self._run_two_processes(straight)
    self.assertEqual(codes, [0, 0], outputs[0][-3000:] + outputs[1][-3000:])
    self._check_run(straight, reference)

    resumed = self.create_tempdir().full_path
    codes, outputs = self._run_two_processes(resumed, die_after_first_save=True)
    # Process 1 may instead see process 0 (the coordinator) gone; either way both stopped after the save.
    self.assertTrue(codes[0] == 9 and codes[1] != 0, f'{codes}: ' + outputs[0][-3000:] + outputs[1][-3000:])
    self.assertEqual(os.listdir(os.path.join(resumed, 'checkpoints')), ['2'])
    self.assertFalse(os.path.exists(os.path.join(resumed, 'results.json')))
    codes, outputs = self._run_two_processes(resumed)
    self.assertEqual(codes, [0, 0], outputs[0][-3000:] + outputs[1][-3000:])
    self.assertIn('Resumed from step 2', outputs[0])
    self._check_run(resumed, reference)


class ClusterDetectionTest(absltest.TestCase):

  def test_environments(self):
    slurm = dict(SLURM_JOB_ID='7', SLURM_STEP_NODELIST='n[1-2]', SLURM_PROCID='0', SLURM_LOCALID='0')
    self.assertTrue(sharding.cluster_detected(dict(slurm, SLURM_NTASKS='2')))
    self.assertFalse(sharding.cluster_detected(dict(slurm, SLURM_NTASKS='1')))  # A sweep's array task.
    self.assertTrue(sharding.cluster_detected(dict(OMPI_MCA_orte_hnp_uri='1.0;tcp://h:1', OMPI_COMM_WORLD_SIZE='4')))
    self.assertTrue(sharding.cluster_detected(dict(TPU_WORKER_HOSTNAMES='h0,h1')))
    self.assertFalse(sharding.cluster_detected({}))  # This machine: no cluster, no TPU.


if __name__ == '__main__':
  absltest.main()
