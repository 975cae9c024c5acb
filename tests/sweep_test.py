"""Tests for experiments.sweep: grid expansion, configs, `list`, and resumption with a fake runner."""

import contextlib
import glob
import importlib.util
import io
import json
import os
import re
import shlex
import shutil
import socket
import subprocess
import sys
import threading
import time

from absl.testing import absltest
from absl.testing import flagsaver
from absl.testing import parameterized

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # experiments/ is not installed.
from experiments import sweep as sweep_lib  # pylint: disable=g-import-not-at-top

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SWEEPS = sorted(glob.glob(os.path.join(ROOT, 'experiments', 'sweeps', '*.py')))

TOY = dict(
    name='toy',
    overrides=['--config.data.glue_dir=../shared/data/glue'],
    grid=[dict(task=['sst2', 'rte'], method=['spartan', 'lora'], k=[16, 32], seed=[13, 21],
               model='minilm', **{'train.learning_rate': [1e-3, 3e-4]}),
          dict(task='cola', method='full', k=0, seed=42, runlocal=True)],
)


def _finish(job):
  os.makedirs(job.workdir, exist_ok=True)
  with open(os.path.join(job.workdir, sweep_lib.RESULTS), 'w') as f:
    json.dump({'task': 'x'}, f)


def _dead_pid():
  """The pid of a process that has ended."""
  process = subprocess.Popen([sys.executable, '-c', 'pass'])
  process.wait()
  return process.pid


class FakeRunner:
  """Records the jobs it is given; 'finishes' them unless their name is in `fail`."""

  def __init__(self, fail=(), forget=()):
    self.ran, self.fail, self.forget = [], set(fail), set(forget)

  def __call__(self, job):
    self.ran.append(job.name)
    os.makedirs(job.workdir, exist_ok=True)
    if job.name in self.fail:
      return 3
    if job.name not in self.forget:
      _finish(job)
    return 0


class ExpandTest(parameterized.TestCase):

  def setUp(self):
    super().setUp()
    cwd = os.getcwd()
    os.chdir(ROOT)  # Jobs name their config relative to the repository root.
    self.addCleanup(os.chdir, cwd)

  def test_counts_names_and_overrides(self):
    jobs = sweep_lib.expand(TOY, root='runs')
    self.assertLen(jobs, 2 * 2 * 2 * 2 * 2 + 1)
    self.assertLen({j.workdir for j in jobs}, len(jobs))
    first = jobs[0]
    self.assertEqual(first.arg, 'sst2,method=spartan,k=16,seed=13,model=minilm')
    self.assertEqual(first.name, 'sst2-spartan-k16-seed13-minilm-lr0.001')
    self.assertEqual(first.workdir, os.path.join('runs', 'toy', first.name))
    self.assertEqual(first.overrides, ('--config.data.glue_dir=../shared/data/glue',
                                       '--config.train.learning_rate=0.001'))
    self.assertEqual(jobs[-1].arg, 'cola,method=full,k=0,seed=42,runlocal=True')
    self.assertEqual(jobs[-1].name, 'cola-full-full-seed42-runlocal')
    self.assertEqual(sweep_lib.expand(TOY, root='runs'), jobs)  # Deterministic.

  def test_names_are_filesystem_safe(self):
    jobs = sweep_lib.expand(dict(name='s', grid=dict(task='rte', model=['/ckpt/my model/', 'org/roberta-base'])))
    self.assertEqual([j.name for j in jobs], ['rte-my_model', 'rte-roberta-base'])
    for job in jobs:
      self.assertRegex(job.name, r'^[A-Za-z0-9._+-]+$')

  def test_clashing_workdirs_fail(self):
    with self.assertRaisesRegex(ValueError, 'share workdirs'):
      sweep_lib.expand(dict(name='s', grid=dict(task='rte', model=['a/minilm', 'b/minilm'])))

  @parameterized.parameters(dict(name='a b', grid=dict(task='rte')), dict(name='s', grid=dict(seed=1)),
                            dict(name='s', grid=dict(task='rte'), overrides=['--lr=1']))
  def test_bad_sweeps_fail(self, **sweep):
    with self.assertRaises(ValueError):
      sweep_lib.expand(sweep)

  def test_toy_configs_build(self):
    for job in sweep_lib.expand(TOY):
      config = sweep_lib.build_config(job)
      self.assertEqual(config.data.glue_dir, '../shared/data/glue')
    self.assertEqual(config.train.num_steps, 4)  # runlocal.
    self.assertEqual(sweep_lib.build_config(sweep_lib.expand(TOY)[1]).train.learning_rate, 3e-4)

  def test_unknown_override_fails(self):
    job = sweep_lib.expand(dict(name='s', grid=dict(task='rte'), overrides=['--config.train.lr=1']))[0]
    with self.assertRaisesRegex(KeyError, 'no field'):
      sweep_lib.build_config(job)

  def test_bool_override_is_strict(self):
    sweep = dict(name='s', grid=dict(task='rte'), overrides=['--config.method.memory.shared=yes'])
    with self.assertRaisesRegex(ValueError, r'^rte.*: Config argument method.memory.shared=.yes.'):
      sweep_lib.build_config(sweep_lib.expand(sweep)[0])

  @parameterized.parameters(*SWEEPS)
  def test_every_sweep_arg_builds_a_config(self, path):
    sweep = sweep_lib.load_sweep(path)
    jobs = sweep_lib.expand(sweep)
    self.assertEqual(sweep['name'], os.path.basename(path)[:-3])
    self.assertLen({j.workdir for j in jobs}, len(jobs))
    for job in jobs:
      config = sweep_lib.build_config(job)
      self.assertEqual(config.model.checkpoint, 'minilm')
      self.assertIn((config.data.protocol, config.data.k), [('lmbff', 16), ('lmbff', 64), ('lmbff', 256), ('full', 0)])
      self.assertEqual(config.data.glue_dir, '../shared/data/glue')

  @parameterized.parameters(('fewshot_minilm', 2 * 5 * 3), ('fewshot_all_minilm', 5 * 3 * 7),
                            ('fewshot_lr_minilm', 5 * 7 * 3 * 3), ('fewshot_vs_k_minilm', 2 * 5 * 3 * 2 * 3))
  def test_sweep_sizes(self, name, count):
    jobs = sweep_lib.expand(sweep_lib.load_sweep(name))
    if name in ('fewshot_lr_minilm', 'fewshot_vs_k_minilm'):  # Plus the lrs beyond the grid's edge asked for.
      count += sum(len(g['train.learning_rate']) for g in _load_sweep_module(name).edge_grid())
    self.assertLen(jobs, count)


def _seed_13_run(runs, sweep, task, method, lr, dev_score):
  workdir = os.path.join(runs, sweep, f'{task}-{method}-seed13-lr{lr}')
  os.makedirs(workdir)
  with open(os.path.join(workdir, sweep_lib.RESULTS), 'w') as f:
    json.dump({'task': task, 'method': method, 'protocol': 'full', 'seed': 13, 'best_dev_score': dev_score,
               'config': {'seed': 13, 'data': {'protocol': 'full', 'k': 0, 'n': 0}, 'train': {'learning_rate': lr}}}, f)


def _few_shot_run(runs, task, method, seed, lr, dev_score, k=16, sweep='fewshot_lr_minilm'):
  workdir = os.path.join(runs, sweep, f'{task}-{method}-k{k}-seed{seed}-lr{lr}')
  os.makedirs(workdir)
  with open(os.path.join(workdir, sweep_lib.RESULTS), 'w') as f:
    json.dump({'task': task, 'method': method, 'protocol': 'lmbff', 'seed': seed, 'best_dev_score': dev_score,
               'config': {'seed': seed, 'data': {'protocol': 'lmbff', 'k': k, 'n': 0},
                          'train': {'learning_rate': lr}}}, f)


def _load_sweep_module(name):
  spec = importlib.util.spec_from_file_location(name, os.path.join(ROOT, 'experiments', 'sweeps', f'{name}.py'))
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module


class SeedsAtTheDevChoiceTest(absltest.TestCase):
  """glue_full_seeds_minilm.py: the other seeds run at seed 13's dev-chosen lr, once the choice is final."""

  def test_a_final_choice_gives_jobs_at_its_dev_best_lr_and_the_rest_wait(self):
    runs = self.create_tempdir().full_path
    _seed_13_run(runs, 'glue_full_3epochs_minilm', 'stsb', 'spartan', 1e-3, 0.85)
    _seed_13_run(runs, 'glue_full_lr_minilm', 'stsb', 'spartan', 3e-4, 0.80)
    _seed_13_run(runs, 'glue_full_lr_minilm', 'stsb', 'spartan', 3e-3, 0.70)
    _seed_13_run(runs, 'glue_full_3epochs_minilm', 'mrpc', 'houlsby', 1e-3, 0.80)
    _seed_13_run(runs, 'glue_full_lr_minilm', 'mrpc', 'houlsby', 3e-3, 0.90)  # 3e-4 has not run.
    grid, waiting = _load_sweep_module('glue_full_seeds_minilm').grid_and_waiting(runs)
    jobs = sweep_lib.expand(dict(name='s', grid=grid, waiting=waiting))
    self.assertEqual([j.name for j in jobs], ['stsb-spartan-seed21-minilm-num_epochs3-eval_every100-lr0.001',
                                               'stsb-spartan-seed42-minilm-num_epochs3-eval_every100-lr0.001'])
    self.assertLen(waiting, 4 * 7 - 1)
    self.assertIn('mrpc-houlsby: seed 13 has run lr [0.001, 0.003], still needs [0.0003]', waiting)
    self.assertIn('stsb-full: seed 13 has run lr none, still needs [1e-05, 3e-05, 0.0001]', waiting)

  def test_a_choice_at_the_grid_edge_waits_for_the_lr_beyond_it(self):
    runs = self.create_tempdir().full_path
    for lr, dev_score in ((3e-4, 0.70), (1e-3, 0.80), (3e-3, 0.85)):
      _seed_13_run(runs, 'glue_full_lr_minilm', 'mrpc', 'spartan', lr, dev_score)
    seeds = _load_sweep_module('glue_full_seeds_minilm')
    edges = _load_sweep_module('glue_full_lr_minilm')
    grid, waiting = seeds.grid_and_waiting(runs)
    self.assertEqual(grid, [])
    self.assertIn('mrpc-spartan: seed 13 has run lr [0.0003, 0.001, 0.003], still needs [0.01]', waiting)
    edge_grid, edge_waiting = edges.edge_grid_and_waiting(runs)
    self.assertEqual([j.name for j in sweep_lib.expand(dict(name='s', grid=edge_grid))],
                     ['mrpc-spartan-seed13-minilm-num_epochs3-eval_every100-lr0.01'])
    self.assertLen(edge_waiting, 4 * 7 - 1)
    self.assertIn('mrpc-houlsby: an lr beyond the grid may follow; has run none of [0.0003, 0.001, 0.003]',
                  edge_waiting)
    # The run beyond the edge loses on dev: 3e-3 is final.
    _seed_13_run(runs, 'glue_full_lr_minilm', 'mrpc', 'spartan', 1e-2, 0.84)
    grid, _ = seeds.grid_and_waiting(runs)
    self.assertEqual([j.name for j in sweep_lib.expand(dict(name='s', grid=grid))],
                     ['mrpc-spartan-seed21-minilm-num_epochs3-eval_every100-lr0.003',
                      'mrpc-spartan-seed42-minilm-num_epochs3-eval_every100-lr0.003'])
    edge_grid = edges.edge_grid_and_waiting(runs)[0]  # The run made beyond the edge stays listed.
    self.assertEqual([j.name for j in sweep_lib.expand(dict(name='s', grid=edge_grid))],
                     ['mrpc-spartan-seed13-minilm-num_epochs3-eval_every100-lr0.01'])

  def test_few_shot_choices_at_the_grid_edge_get_the_lr_beyond_per_seed(self):
    runs = self.create_tempdir().full_path
    for seed, dev_scores in ((13, (.5, .6, .7)), (21, (.5, .7, .6)), (42, (.7, .7, .7))):
      for lr, dev_score in zip((3e-4, 1e-3, 3e-3), dev_scores):
        _few_shot_run(runs, 'stsb', 'spartan', seed, lr, dev_score)
    for lr, dev_score in ((1e-5, .8), (3e-5, .6), (1e-4, .6)):
      _few_shot_run(runs, 'mrpc', 'full', 13, lr, dev_score)
    _few_shot_run(runs, 'mrpc', 'lora', 13, 3e-3, .9)  # Its grid is not done: nothing beyond it yet.
    grid = _load_sweep_module('fewshot_lr_minilm').edge_grid(runs)
    self.assertEqual([j.name for j in sweep_lib.expand(dict(name='s', grid=grid))],
                     ['mrpc-full-k16-seed13-minilm-lr3e-06', 'stsb-spartan-k16-seed13-minilm-lr0.01'])
    _few_shot_run(runs, 'stsb', 'spartan', 13, 1e-2, .65)  # Loses on dev: 3e-3 is final, 1e-2 stays listed.
    grid = _load_sweep_module('fewshot_lr_minilm').edge_grid(runs)
    self.assertEqual([j.name for j in sweep_lib.expand(dict(name='s', grid=grid))],
                     ['mrpc-full-k16-seed13-minilm-lr3e-06', 'stsb-spartan-k16-seed13-minilm-lr0.01'])

  def test_score_vs_k_choices_at_the_grid_edge_get_the_lr_beyond_per_k_and_seed(self):
    runs = self.create_tempdir().full_path
    for k, dev_scores in ((64, (.5, .6, .7)), (256, (.7, .6, .5))):
      for lr, dev_score in zip((3e-4, 1e-3, 3e-3), dev_scores):
        _few_shot_run(runs, 'sst2', 'houlsby', 21, lr, dev_score, k=k, sweep='fewshot_vs_k_minilm')
    _few_shot_run(runs, 'sst2', 'houlsby', 13, 3e-3, .9, k=64, sweep='fewshot_vs_k_minilm')  # Grid not done.
    _few_shot_run(runs, 'sst2', 'lora', 13, 3e-3, .9, sweep='fewshot_lr_minilm')  # Another sweep's run.
    grid = _load_sweep_module('fewshot_vs_k_minilm').edge_grid(runs)
    self.assertEqual([j.name for j in sweep_lib.expand(dict(name='s', grid=grid))],
                     ['sst2-houlsby-k256-seed21-minilm-lr0.0001', 'sst2-houlsby-k64-seed21-minilm-lr0.01'])

  def test_only_a_sweep_that_says_what_it_waits_for_may_be_empty(self):
    self.assertEqual(sweep_lib.expand(dict(name='s', grid=[], waiting=['rte-lora: seed 13 ...'])), [])
    with self.assertRaisesRegex(ValueError, 'empty grid'):
      sweep_lib.expand(dict(name='s', grid=[]))


class CommandsTest(parameterized.TestCase):

  def setUp(self):
    super().setUp()
    self.root = self.create_tempdir().full_path
    self.jobs = sweep_lib.expand(TOY, root=self.root)

  def _main(self, *argv, **flag_values):
    out = io.StringIO()
    flag_values.setdefault('sweep', os.path.join(ROOT, 'experiments', 'sweeps', 'fewshot_minilm.py'))
    with flagsaver.flagsaver(root=self.root, **flag_values), contextlib.redirect_stdout(out):
      sweep_lib.main(['sweep', *argv])
    return out.getvalue().splitlines()

  def test_a_sweep_that_waits_says_so_and_runs_nothing(self):
    path = os.path.join(self.create_tempdir().full_path, 'waits.py')
    with open(path, 'w') as f:
      f.write("SWEEP = dict(name='waits', grid=[], waiting=['rte-lora: seed 13 has run lr none'])\n")
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
      self.assertEqual(self._main('run', sweep=path)[-1], 'All listed jobs done; 1 waiting (above).')
      self.assertEqual(self._main('list', sweep=path), [])
    # `run` prints them at its start and again at its end, `list` once.
    self.assertEqual(err.getvalue().count('# waiting: rte-lora: seed 13 has run lr none\n'), 3)

  def test_run_reads_the_sweep_again_and_runs_the_jobs_that_finished_runs_made_possible(self):
    path = os.path.join(self.create_tempdir().full_path, 'grows.py')
    first = os.path.join(self.root, 'grows', 'rte-seed13-runlocal', sweep_lib.RESULTS)
    with open(path, 'w') as f:
      f.write(f"import os\n_DONE = os.path.exists({first!r})\n"
              "SWEEP = dict(name='grows', grid=dict(task='rte', seed=[13, 21] if _DONE else 13, runlocal=True),\n"
              "             waiting=[] if _DONE else ['rte-seed21: once seed 13 is done'])\n")
    ran = []
    original = sweep_lib.subprocess_runner
    sweep_lib.subprocess_runner = lambda job, env=None: ran.append(job.name) or _finish(job) or 0
    self.addCleanup(setattr, sweep_lib, 'subprocess_runner', original)
    checked, check_configs = [], sweep_lib.check_configs
    sweep_lib.check_configs = lambda jobs: checked.append([job.name for job in jobs]) or check_configs(jobs)
    self.addCleanup(setattr, sweep_lib, 'check_configs', check_configs)
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
      lines = self._main('run', sweep=path)
    self.assertEqual(ran, ['rte-seed13-runlocal', 'rte-seed21-runlocal'])
    # Each pass validates the jobs it adds, not those already run.
    self.assertEqual(checked, [['rte-seed13-runlocal'], ['rte-seed21-runlocal'], []])
    self.assertEqual(lines[-1], 'All jobs done.')
    self.assertEqual(err.getvalue().count('# waiting: rte-seed21'), 1)  # Printed at the start only.

  def test_list_prints_one_command_per_job(self):
    lines = self._main('list')
    jobs = sweep_lib.expand(sweep_lib.load_sweep('fewshot_minilm'), self.root)
    self.assertEqual(lines, [j.command() for j in jobs])
    self.assertTrue(lines[0].startswith('python -m spartan_jax.main --config=configs/glue.py:sst2,method=spartan,'))
    self.assertIn(f'--workdir={self.root}/fewshot_minilm/sst2-spartan-k16-seed13-minilm', lines[0])
    self.assertTrue(lines[0].endswith(' --config.data.glue_dir=../shared/data/glue'))
    _finish(jobs[0])
    self.assertLen(self._main('list', pending=True), len(jobs) - 1)
    self.assertLen(self._main('list', filter='^rte-houlsby'), 5)

  def test_slurm_script_runs_the_pending_jobs(self):
    out = os.path.join(self.root, 'sweep.sbatch')
    jobs = sweep_lib.expand(sweep_lib.load_sweep('fewshot_minilm'), self.root)
    _finish(jobs[0])
    printed = self._main('slurm', out=out, gpus=1, max_running=4, time='0:30:00')
    self.assertEqual(printed, [f'{out}: 29 of 30 jobs; submit with: sbatch {out}'])
    script = open(out).read()
    for option in ('--array=0-28%4', '--gpus=1', '--time=0:30:00', '--cpus-per-task=4', '--mem=16G',
                   f'--output={self.root}/fewshot_minilm/slurm-%A_%a.out'):
      self.assertIn(f'#SBATCH {option}\n', script)
    cases = re.findall(r'^  (\d+)\) (.*) ;;$', script, re.MULTILINE)
    self.assertEqual([int(i) for i, _ in cases], list(range(29)))
    self.assertEqual([command for _, command in cases], self._main('list', pending=True))
    # Task 3 runs job 4's command from this directory: a fake `python` echoes its arguments.
    bin_dir = self.create_tempdir().full_path
    with open(os.path.join(bin_dir, 'python'), 'w') as f:
      f.write('#!/bin/sh\necho "$PWD" "$@"\n')
    os.chmod(os.path.join(bin_dir, 'python'), 0o755)
    env = dict(os.environ, PATH=f"{bin_dir}:{os.environ['PATH']}", SLURM_ARRAY_TASK_ID='3')
    ran = subprocess.run(['bash', out], env=env, capture_output=True, text=True, check=True).stdout
    self.assertEqual(ran, shlex.join([os.getcwd(), *jobs[4].argv()[1:]]) + '\n')
    env['SLURM_ARRAY_TASK_ID'] = '29'
    self.assertEqual(subprocess.run(['bash', out], env=env, capture_output=True).returncode, 2)

  def test_status_counts(self):
    jobs = sweep_lib.expand(sweep_lib.load_sweep('fewshot_minilm'), self.root)
    _finish(jobs[0])
    os.makedirs(jobs[1].workdir)
    self.assertEqual(sweep_lib.status_counts(jobs),
                     {'done': 1, 'running': 0, 'failed': 0, 'partial': 1, 'pending': 28})
    lines = self._main('status')
    self.assertEqual(lines[0], 'fewshot_minilm: 30 jobs: 1 done, 0 running, 0 failed, 1 partial, 28 pending')
    self.assertEqual(lines[1], 'Remaining: 29 jobs; no estimate (no seconds_per_job in the sweep and no job done).')
    self.assertEqual(lines[2], f'  partial: {jobs[1].workdir}')

  def test_estimates_from_the_sweep_then_from_done_jobs(self):
    jobs = sweep_lib.expand(sweep_lib.load_sweep('fewshot_minilm'), self.root)
    self.assertIsNone(sweep_lib.median_seconds(jobs))
    self.assertEqual(sweep_lib.estimate(30, 120.0, 2), '30 jobs x 120 s / 2 worker(s): about 0.5 h of wall time.')
    for job, seconds in zip(jobs, (100.0, 300.0, 200.0)):
      os.makedirs(job.workdir)
      with open(os.path.join(job.workdir, sweep_lib.RESULTS), 'w') as f:
        json.dump({'seconds': {'total': seconds}}, f)
    self.assertEqual(sweep_lib.median_seconds(jobs), 200.0)
    self.assertEqual(self._main('status', workers=2)[1],
                     'Remaining: 27 jobs x 200 s / 2 worker(s): about 0.8 h of wall time.')

  @parameterized.parameters(1, 3)
  def test_run_skips_done_and_reruns_partial(self, workers):
    done, partial = self.jobs[0], self.jobs[1]
    _finish(done)
    os.makedirs(partial.workdir)  # Interrupted: a workdir without results.json.
    runner = FakeRunner()
    failures = sweep_lib.run_jobs(self.jobs, runner, workers=workers, log=lambda _: None)
    self.assertEqual(failures, [])
    self.assertCountEqual(runner.ran, [j.name for j in self.jobs[1:]])
    self.assertEqual(sweep_lib.status_counts(self.jobs)['done'], len(self.jobs))
    self.assertFalse(any(os.path.exists(os.path.join(j.workdir, 'RUNNING')) for j in self.jobs))
    again = FakeRunner()
    self.assertEqual(sweep_lib.run_jobs(self.jobs, again, workers=workers, log=lambda _: None), [])
    self.assertEmpty(again.ran)

  @parameterized.parameters(1, 2)
  def test_run_continues_past_failures(self, workers):
    jobs = self.jobs[:6]
    broken = FakeRunner(fail={jobs[1].name}, forget={jobs[2].name})

    def runner(job):
      if job is jobs[3]:
        raise RuntimeError('boom')
      return broken(job)

    failures = sweep_lib.run_jobs(jobs, runner, workers=workers, log=lambda _: None)
    self.assertEqual(sorted((j.name, e) for j, e in failures),
                     sorted([(jobs[1].name, 'exit status 3'), (jobs[2].name, 'exited 0 without results.json'),
                             (jobs[3].name, 'RuntimeError: boom')]))
    self.assertEqual(sweep_lib.status_counts(jobs),
                     {'done': 3, 'running': 0, 'failed': 3, 'partial': 0, 'pending': 0})
    with open(os.path.join(jobs[1].workdir, 'FAILED')) as f:
      self.assertEqual(f.read(), 'exit status 3\n')
    # Rerun, now succeeding: FAILED goes.
    self.assertEqual(sweep_lib.run_jobs(jobs, FakeRunner(), workers=workers, log=lambda _: None), [])
    self.assertEqual(sweep_lib.status_counts(jobs)['done'], 6)
    self.assertFalse(any(os.path.exists(os.path.join(j.workdir, 'FAILED')) for j in jobs))

  def test_a_diverged_job_is_failed_with_the_step_in_status(self):
    job = self.jobs[0]
    reason = 'DivergenceError: Diverged at step 7 of 60 with learning rate 1000000000.0: loss nan, ...'

    def diverging(job):
      os.makedirs(job.workdir, exist_ok=True)
      with open(os.path.join(job.workdir, 'log.txt'), 'a') as f:
        f.write(f'I1129 training\n{reason}\n')
      return 1

    failures = sweep_lib.run_jobs([job], diverging, log=lambda _: None)
    self.assertEqual(failures, [(job, f'exit status 1: {reason}')])
    with flagsaver.flagsaver(sweep=os.path.join(ROOT, 'experiments', 'sweeps', 'fewshot_minilm.py'),
                             root=self.root):
      jobs = sweep_lib.expand(sweep_lib.load_sweep('fewshot_minilm'), self.root)
      os.makedirs(jobs[0].workdir)
      with open(os.path.join(jobs[0].workdir, 'FAILED'), 'w') as f:
        f.write(f'exit status 1: {reason}\n')
      out = io.StringIO()
      with contextlib.redirect_stdout(out):
        sweep_lib.main(['sweep', 'status'])
    self.assertIn(f'  failed: {jobs[0].workdir}: exit status 1: {reason}', out.getvalue().splitlines())

  def test_list_and_run_refuse_a_bad_config_before_any_job(self):
    sweep = dict(name='bad', overrides=['--config.data.glue_dir=../shared/data/glue'],
                 grid=dict(task='rte', k=16, seed=13, model='minilm', **{'train.learning_rate': [1e-3, -1.0]}))
    jobs = sweep_lib.expand(sweep, self.root)
    cwd = os.getcwd()
    os.chdir(ROOT)
    self.addCleanup(os.chdir, cwd)
    with self.assertRaisesRegex(sweep_lib.config_validation.ConfigError,
                                r'rte-k16-seed13-minilm-lr-1\.0: 1 bad config field\(s\):\s+train\.learning_rate=-1\.0'):
      sweep_lib.check_configs(jobs)

  def test_a_running_job_is_skipped_and_a_dead_lock_taken_over(self):
    live, dead = self.jobs[:2]
    for job, pid in ((live, os.getpid()), (dead, _dead_pid())):
      os.makedirs(job.workdir)
      with open(os.path.join(job.workdir, 'RUNNING'), 'w') as f:
        f.write(f'{socket.gethostname()} {pid}\n')
    self.assertEqual((sweep_lib.state(live), sweep_lib.state(dead)), ('running', 'partial'))
    runner, logged = FakeRunner(), []
    self.assertEqual(sweep_lib.run_jobs(self.jobs[:2], runner, log=logged.append), [])
    self.assertEqual(runner.ran, [dead.name])
    self.assertIn(f'skipped: running in {socket.gethostname()} {os.getpid()}: {live.name}', logged[1])
    self.assertEqual((sweep_lib.state(live), sweep_lib.state(dead)), ('running', 'done'))

  def test_a_job_still_training_after_its_sweep_died_is_skipped(self):
    job = self.jobs[0]
    os.makedirs(job.workdir)
    with open(os.path.join(job.workdir, 'RUNNING'), 'w') as f:
      f.write(f'{socket.gethostname()} {_dead_pid()}\n')  # The killed sweep.
    with open(os.path.join(job.workdir, 'TRAINING'), 'w') as f:
      f.write(f'{socket.gethostname()} {os.getpid()}\n')  # Its spartan_jax.main, alive.
    self.assertEqual(sweep_lib.state(job), 'running')
    runner, logged = FakeRunner(), []
    self.assertEqual(sweep_lib.run_jobs([job], runner, log=logged.append), [])
    self.assertEmpty(runner.ran)
    self.assertIn(f'skipped: running in {socket.gethostname()} {os.getpid()}', logged[1])

  def test_subprocess_runner_appends_output_to_log(self):

    class EchoJob(sweep_lib.Job):  # A tiny process instead of training.

      def argv(self, python='python'):
        return [python, '-c', 'import sys; print("out"); print("err", file=sys.stderr); sys.exit(2)']

    job = EchoJob('j', 'rte', (), os.path.join(self.root, 'j'))
    self.assertEqual(sweep_lib.subprocess_runner(job), 2)
    self.assertEqual(sweep_lib.subprocess_runner(job), 2)
    with open(os.path.join(job.workdir, 'log.txt')) as f:
      log = f.read()
    self.assertEqual(log.count(job.command()), 2)  # Appended, not overwritten.
    self.assertEqual((log.count('out\n'), log.count('err\n')), (2, 2))

  def test_running_jobs_never_share_a_cpu_slice(self):
    held, used, lock, finish = set(), [], threading.Lock(), FakeRunner()

    def runner(job, cpus):
      with lock:
        self.assertNotIn(tuple(cpus), held)
        held.add(tuple(cpus))
        used.append(tuple(cpus))
      time.sleep(0.05)  # Long enough for the other worker to start a job meanwhile.
      with lock:
        held.remove(tuple(cpus))
      return finish(job)

    jobs = self.jobs[:6]
    self.assertEqual(sweep_lib.run_jobs(jobs, runner, workers=2, log=lambda _: None, slices=[[0], [1, 2]]), [])
    self.assertEqual(sweep_lib.status_counts(jobs)['done'], 6)
    self.assertCountEqual(set(used), [(0,), (1, 2)])
    with self.assertRaisesRegex(ValueError, '1 CPU slices for 2 workers'):
      sweep_lib.run_jobs(jobs, runner, workers=2, slices=[[0]])

  @absltest.skipUnless(hasattr(os, 'sched_getaffinity') and shutil.which('taskset'), 'needs Linux taskset')
  def test_subprocess_runner_pins_the_process(self):

    class AffinityJob(sweep_lib.Job):  # Prints the CPUs it may run on.

      def argv(self, python='python'):
        return [python, '-c', 'import os; print("cpus", sorted(os.sched_getaffinity(0)))']

    cpu = min(os.sched_getaffinity(0))
    job = AffinityJob('j', 'rte', (), os.path.join(self.root, 'j'))
    self.assertEqual(sweep_lib.subprocess_runner(job, cpus=[cpu]), 0)
    with open(os.path.join(job.workdir, 'log.txt')) as f:
      log = f.read()
    self.assertIn(f'cpus [{cpu}]\n', log)
    self.assertIn(f' taskset --cpu-list {cpu} python -c ', log)

  def test_run_command_exits_nonzero_on_failure(self):
    with flagsaver.flagsaver(sweep=os.path.join(ROOT, 'experiments', 'sweeps', 'fewshot_minilm.py'),
                             root=self.root, filter='^rte-spartan-k16-seed13-'):
      jobs = sweep_lib.select(sweep_lib.expand(sweep_lib.load_sweep('fewshot_minilm'), self.root),
                              '^rte-spartan-k16-seed13-')
      self.assertLen(jobs, 1)
      calls = []
      original = sweep_lib.subprocess_runner
      sweep_lib.subprocess_runner = lambda job, env=None: calls.append(job.name) or 1
      self.addCleanup(setattr, sweep_lib, 'subprocess_runner', original)
      cwd = os.getcwd()
      os.chdir(ROOT)
      self.addCleanup(os.chdir, cwd)
      with self.assertRaises(SystemExit) as exit_, contextlib.redirect_stdout(io.StringIO()):
        sweep_lib.main(['sweep', 'run'])
    self.assertEqual(exit_.exception.code, 1)
    self.assertEqual(calls, [jobs[0].name])


if __name__ == '__main__':
  absltest.main()
