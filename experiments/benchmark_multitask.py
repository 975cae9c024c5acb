r"""Many tasks, one backbone: a mixed batch in one call against the same examples run task by task.

  python -m experiments.benchmark_multitask --out=experiments/results/benchmark_multitask_minilm_cpu.md

N tasks of one method on the MiniLM weights (random trainable leaves, heads of 2, 3, 2 and 1 outputs),
stacked by `spartan_jax.multitask`. Each batch holds batch / N examples of every task in a random order.
"mixed" runs it in one jitted call (task_ids per example); "grouped" sorts the same examples by task and
runs each task's own model on its group (N jitted calls, then the rows put back in order). Times are
medians over interleaved rounds (`common.time_cases`); the ratio is the median (interquartile range)
of per-round ratios. Bytes: one backbone + N deltas against N full models (float32 params).
"""

import time

from absl import app
from absl import flags
import jax
import jax.numpy as jnp
import numpy as np

from experiments import benchmark
from experiments import common
from spartan_jax import multitask
from spartan_jax import partition
from spartan_jax.models import bert
from spartan_jax.models import model as model_lib
from spartan_jax.models import peft

NUM_LABELS = (2, 3, 2, 1)


def task_models(encoder: str | bert.EncoderConfig, method: str, num_tasks: int):
  """[(model, params)] of `num_tasks` tasks sharing one backbone, trainable leaves random."""
  out = []
  for t in range(num_tasks):
    num_labels = NUM_LABELS[t % len(NUM_LABELS)]
    if isinstance(encoder, str):
      model, params = model_lib.from_pretrained(encoder, method, num_labels)
    else:
      model = model_lib.build_model(encoder, method, num_labels)
      params = model_lib.init_params(model, jax.random.key(0))
    labels = partition.param_labels(params, peft.trainable_rules(method))
    rng = np.random.default_rng(t)
    params = jax.tree.map(lambda p, label: p + 0.02 * rng.standard_normal(p.shape).astype(p.dtype)
                          if label == 'trainable' else p, params, labels)
    out.append((model, params))
  return out


def build_cases(models, method: str, batch: int, length: int, vocab_size: int, seed: int = 0):
  """The 'mixed' and 'grouped' cases over one batch, and the stacked model (for its bytes)."""
  num_tasks = len(models)
  if batch % num_tasks:
    raise ValueError(f'batch={batch} must be a multiple of the {num_tasks} tasks.')
  rng = np.random.default_rng(seed)
  task_ids = rng.permutation(np.repeat(np.arange(num_tasks), batch // num_tasks)).astype(np.int32)
  ids = jnp.asarray(rng.integers(vocab_size // 2, vocab_size, (batch, length)), jnp.int32)
  mask, types = jnp.ones_like(ids), jnp.zeros_like(ids)
  stacked = multitask.stack_params(models[0][0], method, [p for _, p in models])
  mixed_fn = jax.jit(multitask.make_logits_fn(stacked))
  mixed = lambda: jax.block_until_ready(mixed_fn(ids, mask, types, jnp.asarray(task_ids)))

  groups = [np.flatnonzero(task_ids == t) for t in range(num_tasks)]
  singles = [jax.jit(lambda p, i, m, y, model=model: model.apply({'params': p}, i, m, y)['logits'])
             for model, _ in models]
  width = max(stacked.num_labels)

  def grouped():
    out = jnp.zeros((batch, width))
    for fn, (_, params), rows in zip(singles, models, groups):
      logits = fn(params, ids[rows], mask[rows], types[rows])
      out = out.at[rows, :logits.shape[-1]].set(logits)
    return jax.block_until_ready(out)

  cases = [benchmark.Case('mixed', 'infer', mixed, float('nan'), batch),
           benchmark.Case('grouped', 'infer', grouped, float('nan'), batch)]
  return cases, stacked


def measure(encoder, method='spartan', num_tasks=4, batch=32, length=128, repeats=10, min_time=0.2) -> dict:
  models = task_models(encoder, method, num_tasks)
  vocab = models[0][0].config.vocab_size
  cases, stacked = build_cases(models, method, batch, length, vocab)
  times = common.time_cases(cases, repeats, min_time)
  return {'mixed_ms': 1e3 * float(np.median(times[('mixed', 'infer')])),
          'grouped_ms': 1e3 * float(np.median(times[('grouped', 'infer')])),
          'mixed_vs_grouped': common.ratio(times[('grouped', 'infer')], times[('mixed', 'infer')]),
          **multitask.memory_report(stacked)}


def format_result(r, method, batch, length) -> str:
  mib = lambda b: f'{b / 2**20:.1f} MiB'
  return '\n'.join([
      f'| {method}, {r["tasks"]} tasks, batch {batch} × {length} | ms per batch | ex/s |', '|---|---:|---:|',
      f'| mixed (one call, task_ids) | {r["mixed_ms"]:.1f} | {1e3 * batch / r["mixed_ms"]:.1f} |',
      f'| grouped (one call per task) | {r["grouped_ms"]:.1f} | {1e3 * batch / r["grouped_ms"]:.1f} |', '',
      f'Mixed throughput × grouped: {benchmark.fmt_ratio(r["mixed_vs_grouped"])}.', '',
      f'Bytes held: one backbone {mib(r["backbone_bytes"])} + {r["tasks"]} deltas {mib(r["deltas_bytes"])} '
      f'= {mib(r["shared_bytes"])}, against {r["tasks"]} full models {mib(r["separate_bytes"])} '
      f'({r["ratio"]:.2f}×).', ''])


def define_flags():
  """Defined only when run as a script (importing this module must not clash with other flags)."""
  flags.DEFINE_enum('method', 'spartan', ['spartan', 'houlsby', 'pfeiffer', 'lora', 'bitfit', 'head_only'],
                    'Method of every task.')
  flags.DEFINE_integer('tasks', 4, 'Number of tasks.')
  flags.DEFINE_integer('batch', 32, 'Examples per batch (a multiple of --tasks).')
  flags.DEFINE_integer('length', 128, 'Sequence length.')
  common.define_timing_flags(repeats=10)
  flags.DEFINE_string('out', '', 'Also write the markdown here.')


def main(argv):
  del argv
  f = flags.FLAGS
  command = common.command_line('experiments.benchmark_multitask')
  start = time.time()
  result = measure('minilm', f.method, f.tasks, f.batch, f.length, f.repeats, f.min_time)
  text = '\n'.join(common.header(
      f'Multi-task benchmark: {f.tasks} {f.method} tasks on one MiniLM backbone', command, start,
      f'{f.repeats} interleaved rounds; ms is the median over rounds, the ratio the median (interquartile '
      'range) of per-round ratios of throughput.') + [format_result(result, f.method, f.batch, f.length)])
  common.emit(text, f.out)


if __name__ == '__main__':
  define_flags()
  app.run(main)
