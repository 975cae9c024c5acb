r"""Expands a sweep into `spartan_jax.main` jobs and lists, runs or counts them.

  python -m experiments.sweep --sweep=experiments/sweeps/fewshot_minilm.py --root=experiments/runs list
  python -m experiments.sweep --sweep=experiments/sweeps/fewshot_minilm.py --root=experiments/runs run --workers=2
  python -m experiments.sweep --sweep=experiments/sweeps/fewshot_minilm.py --root=experiments/runs status
  python -m experiments.sweep --sweep=fewshot_minilm --root=experiments/runs run --filter='^rte-'
  python -m experiments.sweep --sweep=fewshot_minilm slurm --out=fewshot.sbatch --time=1:00:00 --gpus=1
  sbatch fewshot.sbatch

Run from the repository root: the config and data paths in a sweep are relative to it.

A sweep is a module in experiments/sweeps/ defining `SWEEP`, a dict:
  name       the sweep's folder under --root.
  overrides  `--config.x.y=v` strings given to every job (data paths, budgets).
  grid       {key: values}, or a list of such dicts (their jobs are concatenated). Plain keys are
             `configs/glue.py:ARG` arguments (task, method, k, n, seed, model, runlocal); k=0 means full
             data. Dotted keys (`train.learning_rate`) are config fields, passed as `--config.KEY=V`.
             A scalar is a one-value list. The product is taken in key order; `task` is required.
  config     optional, the config file (default configs/glue.py).
  waiting    optional, lines naming jobs the sweep cannot list yet (a grid built from other sweeps' results,
             glue_full_seeds_minilm.py); printed by every command. With it the grid may be empty.
  seconds_per_job  optional, measured wall seconds per job at `run --workers=2` on the machine it names in
             its docstring; `list` prints the sweep's estimated hours from it (`status` from the done jobs).
Each job runs in `<root>/<name>/<job name>`, the job name made from its values
(`rte-houlsby-k16-seed13-minilm-lr0.0003`). `run` skips jobs whose workdir has results.json and
reruns the others: `spartan_jax.main` resumes an interrupted workdir from its last checkpoint. When the
listed jobs are done, `run` reads the sweep again and runs any jobs it lists now (a grid built from results).
While a job runs its workdir holds RUNNING (host and pid of the sweep) and TRAINING (of the training
process, which `spartan_jax.main` holds itself), so a second `run` of the same sweep skips it, even after
the first sweep was killed and left its job training; a job that failed leaves FAILED (why: the exit status and the log's last `...Error:` line,
e.g. a DivergenceError naming the step), removed when it runs again. `list` and `run` first validate
every job's config (spartan_jax.config_validation) and start nothing if one is bad. A RUNNING left by a
killed process on this host is taken over; one written by another host is trusted until deleted
(spartan_jax.pid_lock).
With --workers > 1 on Linux, `run` splits the CPUs it may use into one disjoint slice per worker and
pins each job's process to a free slice (`taskset`): on the 2-core host two pinned training processes
made 1.12x the steps/s of two free ones (experiments/results/sweep_pinning_cpu.md). The cost: a sweep's
last job runs on its slice alone. --nopin_cpus turns it off.
`slurm` writes a SLURM job-array script with one array task per unfinished job; task i runs the i-th
command that `list --pending` prints, from this directory.
"""

import collections
from collections.abc import Callable, Iterable, Sequence
import concurrent.futures
import dataclasses
import functools
import importlib.util
import itertools
import json
import os
import queue
import re
import shlex
import subprocess
import sys
import time

from absl import app
from absl import flags
import numpy as np

from experiments import cpu_pinning
from spartan_jax import config_utils
from spartan_jax import config_validation
from spartan_jax import pid_lock

_SWEEP = flags.DEFINE_string('sweep', None, 'A sweep file (experiments/sweeps/x.py) or its name (x).')
_ROOT = flags.DEFINE_string('root', 'experiments/runs', 'Workdirs go to <root>/<sweep name>/<job name>.')
_WORKERS = flags.DEFINE_integer('workers', 1, 'run: jobs run at once, each a `spartan_jax.main` process.')
_PIN_CPUS = flags.DEFINE_bool('pin_cpus', True, 'run: with --workers > 1, pin each job to its own CPU slice.')
_FILTER = flags.DEFINE_string('filter', None, 'Only jobs whose name matches this regex (re.search).')
_PENDING = flags.DEFINE_bool('pending', False, 'list: only jobs without results.json.')
_OUT = flags.DEFINE_string('out', None, 'slurm: the job script to write.')
_TIME = flags.DEFINE_string('time', '4:00:00', 'slurm: time limit per job (sbatch --time).')
_PARTITION = flags.DEFINE_string('partition', None, 'slurm: partition (sbatch --partition).')
_GPUS = flags.DEFINE_integer('gpus', 0, 'slurm: GPUs per job (sbatch --gpus).')
_CPUS = flags.DEFINE_integer('cpus', 4, 'slurm: CPU cores per job (sbatch --cpus-per-task).')
_MEM = flags.DEFINE_string('mem', '16G', 'slurm: memory per job (sbatch --mem).')
_MAX_RUNNING = flags.DEFINE_integer('max_running', None, 'slurm: array tasks running at once (--array=...%N).')

COMMANDS = ('list', 'run', 'status', 'slurm')
DEFAULT_CONFIG = 'configs/glue.py'
RESULTS = 'results.json'
LOG = 'log.txt'
RUNNING = 'RUNNING'
FAILED = 'FAILED'
STATES = ('done', 'running', 'failed', 'partial', 'pending')
# Short names of config fields in job names; other fields use their last component.
_ALIASES = {'learning_rate': 'lr', 'batch_size': 'bs', 'num_steps': 'steps', 'weight_decay': 'wd',
            'warmup_ratio': 'warmup'}


@dataclasses.dataclass(frozen=True)
class Job:
  """One run: `python -m spartan_jax.main --config=CONFIG:ARG --workdir=WORKDIR OVERRIDES`."""
  name: str
  arg: str
  overrides: tuple[str, ...]
  workdir: str
  config: str = DEFAULT_CONFIG

  def argv(self, python: str = 'python') -> list[str]:
    return [python, '-m', 'spartan_jax.main', f'--config={self.config}:{self.arg}', f'--workdir={self.workdir}',
            *self.overrides]

  def command(self) -> str:
    return shlex.join(self.argv())


def _grids(sweep: dict) -> list[dict]:
  grid = sweep['grid']
  grids = [grid] if isinstance(grid, dict) else list(grid)
  if not grids and not sweep.get('waiting'):
    raise ValueError(f"Sweep {sweep.get('name')!r} has an empty grid.")
  return grids


def _values(value) -> list:
  return list(value) if isinstance(value, (list, tuple)) else [value]


def _safe(text: str) -> str:
  """Filesystem-safe: letters, digits and . _ + - only; never empty or starting with a dot."""
  return re.sub(r'[^A-Za-z0-9._+-]+', '_', text).lstrip('.') or '_'


def _name_part(key: str, value) -> str | None:
  """How one value shows in a job name (None: left out)."""
  if key == 'task' or key == 'method':
    return _safe(str(value))
  if key == 'k':
    return f'k{value}' if value else 'full'
  if key == 'model':
    return _safe(str(value).rstrip('/').rsplit('/', 1)[-1])
  if isinstance(value, bool):
    return _safe(key) if value else None
  return _safe(_ALIASES.get(key.rsplit('.', 1)[-1], key.rsplit('.', 1)[-1]) + str(value))


def expand(sweep: dict, root: str = 'experiments/runs') -> list[Job]:
  """The jobs of `sweep` (see the module docstring), in grid order; pure.

  Raises:
    ValueError: on a missing name or task, or two jobs with the same workdir.
  """
  name = sweep.get('name')
  if not name or _safe(name) != name:
    raise ValueError(f'A sweep needs a filesystem-safe name; got {name!r}.')
  common = tuple(sweep.get('overrides', ()))
  for override in common:
    if not override.startswith('--config.') or '=' not in override:
      raise ValueError(f'Overrides look like --config.x.y=v; got {override!r}.')
  config = sweep.get('config', DEFAULT_CONFIG)
  jobs = []
  for grid in _grids(sweep):
    if 'task' not in grid:
      raise ValueError(f'Every grid needs a task; got keys {sorted(grid)}.')
    keys = ['task'] + [k for k in grid if k != 'task']
    for combo in itertools.product(*(_values(grid[k]) for k in keys)):
      values = dict(zip(keys, combo))
      arg = ','.join([str(values['task'])] + [f'{k}={v}' for k, v in values.items()
                                               if k != 'task' and '.' not in k])
      fields = tuple(f'--config.{k}={v}' for k, v in values.items() if '.' in k)
      job_name = '-'.join(p for p in (_name_part(k, v) for k, v in values.items()) if p)
      jobs.append(Job(job_name, arg, common + fields, os.path.join(root, name, job_name), config))
  seen = collections.Counter(job.workdir for job in jobs)
  clashes = sorted(w for w, n in seen.items() if n > 1)
  if clashes:
    raise ValueError(f'Jobs share workdirs: {clashes[:5]}.')
  return jobs


def select(jobs: Sequence[Job], pattern: str | None) -> list[Job]:
  """The jobs whose name matches `pattern` (re.search); all of them when it is None."""
  return [j for j in jobs if pattern is None or re.search(pattern, j.name)]


def load_sweep(path_or_name: str) -> dict:
  """`SWEEP` from a sweep file, or from experiments/sweeps/<name>.py."""
  path = path_or_name
  if not os.path.exists(path) and os.sep not in path and not path.endswith('.py'):
    path = os.path.join(os.path.dirname(__file__), 'sweeps', f'{path}.py')
  spec = importlib.util.spec_from_file_location(f'_sweep_{_safe(os.path.basename(path))}', path)
  if spec is None or not os.path.exists(path):
    raise FileNotFoundError(f'No sweep file {path_or_name!r}.')
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module.SWEEP


def state(job: Job) -> str:
  """One of STATES: 'done' (results.json), 'running' (a live RUNNING or training lock), 'failed' (FAILED),
  'partial' (a workdir without those: interrupted) or 'pending' (no workdir)."""
  if os.path.exists(os.path.join(job.workdir, RESULTS)):
    return 'done'
  if _running_owner(job) is not None:
    return 'running'
  if os.path.exists(os.path.join(job.workdir, FAILED)):
    return 'failed'
  return 'partial' if os.path.isdir(job.workdir) else 'pending'


def _running_owner(job: Job) -> str | None:
  """'host pid' of a live process that holds the job's RUNNING (a sweep) or its workdir's training lock
  (the `spartan_jax.main` process, which may outlive a killed sweep); None when there is none."""
  return (pid_lock.owner(os.path.join(job.workdir, RUNNING))
          or pid_lock.owner(os.path.join(job.workdir, pid_lock.WORKDIR_LOCK)))


def _acquire(job: Job) -> str | None:
  """Takes the job's RUNNING unless its workdir is training; returns None, or the owner that holds it."""
  os.makedirs(job.workdir, exist_ok=True)
  return (pid_lock.owner(os.path.join(job.workdir, pid_lock.WORKDIR_LOCK))
          or pid_lock.acquire(os.path.join(job.workdir, RUNNING)))


def build_config(job: Job):
  """The job's config, as its `spartan_jax.main` command line builds it."""
  config = config_utils.load_config(f'{job.config}:{job.arg}')
  try:
    return config_utils.apply_overrides(config, job.overrides)
  except KeyError as e:
    raise KeyError(f'{job.name}: {e.args[0]}') from None
  except ValueError as e:
    raise ValueError(f'{job.name}: {e}') from None


def check_configs(jobs: Sequence[Job]) -> None:
  """Every job's config builds and validates before any starts; raises naming the job."""
  if not os.path.exists(jobs[0].config if jobs else DEFAULT_CONFIG):
    raise app.UsageError(f'No {jobs[0].config if jobs else DEFAULT_CONFIG} here: run from the repository root.')
  for job in jobs:
    try:
      config_validation.validate(build_config(job))
    except config_validation.ConfigError as e:
      raise config_validation.ConfigError(f'{job.name}: {e}') from None


def subprocess_runner(job: Job, env: dict | None = None, cpus: Sequence[int] | None = None) -> int:
  """Runs the job in a `spartan_jax.main` process (pinned to `cpus` if given), appending its stdout and
  stderr to <workdir>/log.txt."""
  os.makedirs(job.workdir, exist_ok=True)
  pin = cpu_pinning.pin_prefix(cpus)
  with open(os.path.join(job.workdir, LOG), 'a') as log:
    log.write(f"\n# {time.strftime('%Y-%m-%d %H:%M:%S')} {shlex.join(pin + job.argv())}\n")
    log.flush()
    return subprocess.run(pin + job.argv(sys.executable), stdout=log, stderr=subprocess.STDOUT, env=env,
                          check=False).returncode


def run_jobs(jobs: Sequence[Job], runner: Callable[..., int] = subprocess_runner, workers: int = 1,
             log: Callable[[str], None] = print, slices: Sequence[Sequence[int]] | None = None
             ) -> list[tuple[Job, str]]:
  """Runs the jobs that are not done, `workers` at a time; returns the failed ones with why.

  A job fails when the runner raises, returns non-zero, or returns 0 without writing results.json; it
  then leaves FAILED with why. Later jobs run regardless. Jobs that another `run` holds are skipped.
  With `slices` (one per worker), a running job holds a slice no other running job has, and the runner
  is called as runner(job, cpus=slice).
  """
  if slices is not None and len(slices) != workers:
    raise ValueError(f'{len(slices)} CPU slices for {workers} workers: give one slice per worker.')
  todo = [job for job in jobs if state(job) != 'done']
  log(f'{len(jobs) - len(todo)} of {len(jobs)} jobs done; running {len(todo)} with {workers} worker(s)'
      + (f", pinned to CPUs {' | '.join(','.join(map(str, s)) for s in slices)}." if slices else '.'))
  failures = []
  free = queue.SimpleQueue()
  for cpus in slices or ():
    free.put(cpus)

  def outcome(job):
    try:
      if slices is None:
        returncode = runner(job)
      else:
        cpus = free.get()
        try:
          returncode = runner(job, cpus=cpus)
        finally:
          free.put(cpus)
    except Exception as e:  # pylint: disable=broad-except
      return f'{type(e).__name__}: {e}'
    if returncode:
      error_line = _error_line(job)
      return f'exit status {returncode}' + (f': {error_line}' if error_line else '')
    if not os.path.exists(os.path.join(job.workdir, RESULTS)):
      return f'exited 0 without {RESULTS}'
    return None

  def one(job):
    start = time.time()
    owner = _acquire(job)
    if owner:
      return job, f'skipped: running in {owner}', 0.0
    failed = os.path.join(job.workdir, FAILED)
    try:
      if os.path.exists(failed):
        os.remove(failed)
      error = outcome(job)
      if error:
        with open(failed, 'w') as f:
          f.write(error + '\n')
    finally:
      pid_lock.release(os.path.join(job.workdir, RUNNING))
    return job, error, time.time() - start

  if workers <= 1:
    outcomes = (one(job) for job in todo)
  else:
    pool = concurrent.futures.ThreadPoolExecutor(workers)  # Threads that each wait on a process.
    outcomes = (f.result() for f in concurrent.futures.as_completed([pool.submit(one, job) for job in todo]))
  for i, (job, error, seconds) in enumerate(outcomes, 1):
    if error and error.startswith('skipped'):
      log(f'[{i}/{len(todo)}] {error}: {job.name}')
      continue
    log(f"[{i}/{len(todo)}] {'FAILED' if error else 'done'} {job.name} ({seconds:.0f} s)"
        + (f': {error}; log: {os.path.join(job.workdir, LOG)}' if error else ''))
    if error:
      failures.append((job, error))
  if workers > 1:
    pool.shutdown()
  return failures


def slurm_script(jobs: Sequence[Job], name: str, log_dir: str, directory: str, time_limit: str = '4:00:00',
                 partition: str | None = None, gpus: int = 0, cpus: int = 4, mem: str = '16G',
                 max_running: int | None = None) -> str:
  """A bash script for `sbatch`: a job array whose task i runs `jobs[i].command()` in `directory`."""
  if not jobs:
    raise ValueError('No jobs to run.')
  array = f'0-{len(jobs) - 1}' + (f'%{max_running}' if max_running else '')
  options = [f'--job-name={name}', f'--array={array}', f'--time={time_limit}', f'--cpus-per-task={cpus}',
             f'--mem={mem}', f'--output={os.path.join(log_dir, "slurm-%A_%a.out")}']
  options += [f'--partition={partition}'] * bool(partition) + [f'--gpus={gpus}'] * bool(gpus)
  cases = [f'  {i}) {job.command()} ;;' for i, job in enumerate(jobs)]
  return '\n'.join([
      '#!/bin/bash', *(f'#SBATCH {o}' for o in options),
      f'# {len(jobs)} jobs of sweep {name}; each resumes from its workdir if rerun.',
      'set -euo pipefail', f'cd {shlex.quote(directory)}',
      'export JAX_COMPILATION_CACHE_DIR="${JAX_COMPILATION_CACHE_DIR:-' + os.path.join(log_dir, '.jax_cache') + '}"',
      'case "$SLURM_ARRAY_TASK_ID" in', *cases, '  *) echo "No job $SLURM_ARRAY_TASK_ID" >&2; exit 2 ;;', 'esac', ''])


def status_counts(jobs: Iterable[Job]) -> dict[str, int]:
  counts = collections.Counter(state(job) for job in jobs)
  return {s: counts[s] for s in STATES}


def median_seconds(jobs: Iterable[Job]) -> float | None:
  """The median wall seconds of the done jobs (results.json's seconds.total); None when none is done."""
  done = []
  for job in jobs:
    if state(job) == 'done':
      with open(os.path.join(job.workdir, RESULTS)) as f:
        done.append(json.load(f).get('seconds', {}).get('total'))
  done = [s for s in done if s is not None]
  return float(np.median(done)) if done else None


def estimate(num_jobs: int, seconds_per_job: float | None, workers: int) -> str:
  """'N jobs x S s / W worker(s): about H h of wall time', or why there is no estimate."""
  if seconds_per_job is None:
    return f'{num_jobs} jobs; no estimate (no seconds_per_job in the sweep and no job done).'
  hours = num_jobs * seconds_per_job / workers / 3600
  return f'{num_jobs} jobs x {seconds_per_job:.0f} s / {workers} worker(s): about {hours:.1f} h of wall time.'


def _log_tail(job: Job, lines: int = 5) -> str:
  try:
    with open(os.path.join(job.workdir, LOG)) as f:
      return ''.join(collections.deque(f, lines))
  except OSError:
    return ''


def _error_line(job: Job) -> str | None:
  """The last 'XError: message' line of the job's log (e.g. DivergenceError naming the step)."""
  found = [line.strip() for line in _log_tail(job, 40).splitlines() if re.match(r'^\w+(Error|Exception): ', line)]
  return found[-1] if found else None


def _failure(job: Job) -> str:
  with open(os.path.join(job.workdir, FAILED)) as f:
    return f.read().strip()


def main(argv):
  if len(argv) != 2 or argv[1] not in COMMANDS:
    raise app.UsageError(f'Give one command, {" | ".join(COMMANDS)}; got {argv[1:]}.')
  command = argv[1]
  sweep = load_sweep(_SWEEP.value)
  jobs = select(expand(sweep, _ROOT.value), _FILTER.value)
  for line in sweep.get('waiting', ()):
    print(f'# waiting: {line}', file=sys.stderr)
  if command in ('list', 'run'):
    check_configs(jobs)
  if command == 'list':
    listed = [job for job in jobs if not (_PENDING.value and state(job) == 'done')]
    seconds = sweep.get('seconds_per_job') or median_seconds(jobs)
    print(f'# {estimate(len(listed), seconds, _WORKERS.value)}', file=sys.stderr)
    for job in listed:
      print(job.command())
  elif command == 'slurm':
    if not _OUT.value:
      raise app.UsageError('slurm needs --out=FILE.sbatch.')
    pending = [job for job in jobs if state(job) != 'done']
    log_dir = os.path.abspath(os.path.join(_ROOT.value, sweep['name']))
    os.makedirs(log_dir, exist_ok=True)  # sbatch does not create the --output folder.
    with open(_OUT.value, 'w') as f:
      f.write(slurm_script(pending, sweep['name'], log_dir,
                           os.getcwd(), _TIME.value, _PARTITION.value, _GPUS.value, _CPUS.value, _MEM.value,
                           _MAX_RUNNING.value))
    print(f'{_OUT.value}: {len(pending)} of {len(jobs)} jobs; submit with: sbatch {_OUT.value}')
  elif command == 'status':
    counts = status_counts(jobs)
    print(f"{sweep['name']}: {len(jobs)} jobs: " + ', '.join(f'{n} {s}' for s, n in counts.items()))
    seconds = median_seconds(jobs) or sweep.get('seconds_per_job')
    print('Remaining: ' + estimate(len(jobs) - counts['done'], seconds, _WORKERS.value))
    for job in jobs:
      job_state = state(job)
      if job_state in ('running', 'failed', 'partial'):
        print(f'  {job_state}: {job.workdir}' + (f': {_failure(job)}' if job_state == 'failed' else ''))
  else:
    # Jobs of the same shapes reuse each other's compiled steps (about half a few-shot run on a CPU).
    env = dict(os.environ)
    env.setdefault('JAX_COMPILATION_CACHE_DIR', os.path.join(_ROOT.value, '.jax_cache'))
    env.setdefault('JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS', '1')
    if _WORKERS.value > 1:
      env.setdefault('XLA_PYTHON_CLIENT_PREALLOCATE', 'false')  # Processes share the accelerator.
    pin = _WORKERS.value > 1 and _PIN_CPUS.value
    slices = cpu_pinning.cpu_slices(_WORKERS.value) if pin else None
    if pin and slices is None:
      print(f'Not pinning jobs to CPUs: that needs Linux, taskset and at least {_WORKERS.value} CPUs.')
    seen = set()
    while new_jobs := [job for job in jobs if job.workdir not in seen]:
      seen.update(job.workdir for job in new_jobs)
      failures = run_jobs(new_jobs, functools.partial(subprocess_runner, env=env), _WORKERS.value, slices=slices)
      if failures:
        print(f'{len(failures)} job(s) failed:')
        for job, error in failures:
          print(f'  {job.name}: {error}\n    ' + _log_tail(job).rstrip().replace('\n', '\n    '))
        sys.exit(1)
      # A grid built from finished runs (glue_full_lr_minilm.py) may list jobs that these runs made possible.
      sweep = load_sweep(_SWEEP.value)
      jobs = select(expand(sweep, _ROOT.value), _FILTER.value)
      check_configs([job for job in jobs if job.workdir not in seen])
    for line in sweep.get('waiting', ()):
      print(f'# waiting: {line}', file=sys.stderr)
    waiting = len(sweep.get('waiting', ()))
    print(f'All listed jobs done; {waiting} waiting (above).' if waiting else 'All jobs done.')


if __name__ == '__main__':
  flags.mark_flag_as_required('sweep')
  app.run(main)
