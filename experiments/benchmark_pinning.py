r"""Sweep throughput on a CPU host: W training processes side by side, pinned to their own CPUs or free.

  python -m experiments.benchmark_pinning --out=experiments/results/sweep_pinning_cpu.md

`experiments.sweep run --workers=W` runs W `spartan_jax.main` processes at once. Each XLA CPU client
sizes its thread pool to the CPUs it may use, so W free processes oversubscribe the cores; the sweep
pins each to one of `cpu_pinning.cpu_slices(W)`. Each round starts W processes twice, free and pinned (the
order alternates by round). Every process compiles one train step (`benchmark.train_case`: forward,
backward, AdamW; MiniLM shapes, random weights), waits until all W are ready, then runs steps for
--seconds. A round's number is the W processes' summed steps/s; the ratio is pinned over free per
round (median, interquartile range).
"""

import os
import subprocess
import sys
import tempfile
import time

from absl import app
from absl import flags
import numpy as np

from experiments import benchmark
from experiments import common
from experiments import cpu_pinning
from spartan_jax import partition
from spartan_jax.models import model as model_lib
from spartan_jax.models import peft

READY, GO = 'ready{}', 'go'


def child(directory: str, index: int, variant: str, model: str, batch: int, length: int,
          seconds: float) -> float:
  """One worker: compiles a train step, says it is ready, waits for go, returns its steps/s."""
  config = benchmark.encoder_config(model)
  method, specs = benchmark.VARIANTS[variant]
  net = model_lib.build_model(config, method, num_labels=2, **specs)
  params = benchmark.random_params(net, config)
  labels = partition.param_labels(params, peft.trainable_rules(method, specs.get('memory')))
  case = benchmark.train_case(variant, net, params, labels, benchmark.make_batch(config, batch, length), 'train')
  case.run()
  open(os.path.join(directory, READY.format(index)), 'w').close()
  while not os.path.exists(os.path.join(directory, GO)):
    time.sleep(0.01)
  steps, start = 0, time.perf_counter()
  while time.perf_counter() - start < seconds:
    case.run()
    steps += 1
  return steps / (time.perf_counter() - start)


def run_round(child_argv, slices, pinned: bool, env: dict | None = None) -> list[float]:
  """Starts one process per slice (pinned to it or free), releases them together; their steps/s.
  `child_argv(directory, index)` is a worker's command line; it prints its steps/s last."""
  with tempfile.TemporaryDirectory(prefix='pinning') as directory:
    return _run_round_in(directory, child_argv, slices, pinned, env)


def _run_round_in(directory, child_argv, slices, pinned, env):
  procs = []
  for i, cpus in enumerate(slices):
    with open(os.path.join(directory, f'log{i}'), 'w') as log:
      procs.append(subprocess.Popen(cpu_pinning.pin_prefix(cpus if pinned else None) + child_argv(directory, i),
                                    stdout=subprocess.PIPE, stderr=log, text=True, env=env))
  try:
    while not all(os.path.exists(os.path.join(directory, READY.format(i))) for i in range(len(procs))):
      for i, p in enumerate(procs):
        if p.poll() is not None:
          with open(os.path.join(directory, f'log{i}')) as f:
            raise RuntimeError(f'Worker {i} exited ({p.returncode}) before it was ready:\n{f.read()[-2000:]}')
      time.sleep(0.05)
    open(os.path.join(directory, GO), 'w').close()
    return [float(p.communicate()[0].split()[-1]) for p in procs]
  finally:
    for p in procs:
      p.kill()
      p.wait()


def measure(child_argv, slices, rounds: int, env: dict | None = None) -> dict:
  """{'free': [summed steps/s per round], 'pinned': [...]}."""
  rates = {'free': [], 'pinned': []}
  for r in range(rounds):
    for mode in ('free', 'pinned') if r % 2 == 0 else ('pinned', 'free'):
      rates[mode].append(sum(run_round(child_argv, slices, mode == 'pinned', env)))
  return rates


def format_table(rates: dict, slices) -> str:
  median, low, high = common.ratio(rates['pinned'], rates['free'])
  return '\n'.join([
      f"| {len(slices)} workers | summed steps/s per round | median |", '|---|---|---:|',
      *(f"| {mode} | {' '.join(f'{x:.3f}' for x in rates[mode])} | {np.median(rates[mode]):.3f} |"
        for mode in ('free', 'pinned')),
      '', f'Pinned / free: **{median:.3f}×** (interquartile range {low:.3f}–{high:.3f}), '
      f"CPU slices {' | '.join(','.join(map(str, s)) for s in slices)}."])


def define_flags():
  flags.DEFINE_integer('workers', 2, 'Processes side by side.')
  flags.DEFINE_integer('rounds', 4, 'Rounds; each runs the workers free and pinned.')
  flags.DEFINE_float('seconds', 20.0, 'Timed steps per worker per run.')
  flags.DEFINE_string('variant', 'spartan_dense', 'A row of experiments.benchmark (the method trained).')
  flags.DEFINE_enum('model', 'minilm', ['minilm', 'roberta-base'], 'Encoder shapes.')
  flags.DEFINE_integer('batch', 16, 'Batch size.')
  flags.DEFINE_integer('length', 64, 'Sequence length (the full-data SST-2 sweep uses 64).')
  flags.DEFINE_string('child', '', 'Internal: run as worker INDEX:DIRECTORY.')
  flags.DEFINE_string('out', '', 'Also write the markdown here.')


def main(argv):
  del argv
  f = flags.FLAGS
  if f.child:
    index, directory = f.child.split(':', 1)
    print(child(directory, int(index), f.variant, f.model, f.batch, f.length, f.seconds))
    return
  slices = cpu_pinning.cpu_slices(f.workers)
  if slices is None:
    raise SystemExit(f'Cannot pin {f.workers} workers here: that needs Linux, taskset and {f.workers}+ CPUs.')
  worker_flags = [f'--variant={f.variant}', f'--model={f.model}', f'--batch={f.batch}', f'--length={f.length}',
                  f'--seconds={f.seconds}']
  child_argv = lambda directory, i: [sys.executable, '-m', 'experiments.benchmark_pinning',
                                     f'--child={i}:{directory}', *worker_flags]
  # Workers after the first load their compiled step from a cache, as sweep jobs do.
  start = time.time()
  with tempfile.TemporaryDirectory(prefix='pinning_cache') as cache:
    env = dict(os.environ, JAX_COMPILATION_CACHE_DIR=cache, JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS='0')
    rates = measure(child_argv, slices, f.rounds, env)
  text = '\n'.join(common.header(
      f'Sweep workers pinned to CPUs or free: {f.workers} × {f.variant} train steps, {f.model} shapes, '
      f'batch {f.batch} × length {f.length}', common.command_line('experiments.benchmark_pinning'), start,
      f'{f.rounds} rounds, each running the {f.workers} workers free and pinned (order alternating), '
      f'{f.seconds:g} s of steps per run after every worker compiled.') + [format_table(rates, slices), ''])
  common.emit(text, f.out)


if __name__ == '__main__':
  define_flags()
  app.run(main)
