r"""The memory lookup alone, dense vs gather, over memory sizes: where does gather overtake dense?

  python -m experiments.memory_scaling --out=experiments/results/memory_scaling_cpu
  python -m experiments.memory_scaling --parents=16,256 --children=3,64 --repeats=3 --out=/tmp/ms

Times `memory.memory_lookup` jitted on N = batch × length tokens of width H, forward ('fwd') and forward +
backward w.r.t. the memory params ('fwd+bwd', the gradient of <out, g> for a fixed random g), over a grid
of E parents × C children. Every case of the grid is measured in the same interleaved rounds
(`common.time_cases` with an untimed call before each sample); a time is the median over
rounds and "× dense" the median (min–max) of the per-round gather/dense ratios. GFLOP, GB accessed and
temp GB are XLA's `cost_analysis()` and `memory_analysis()` of the compiled function. An impl is skipped
where its big intermediate, dense's [N, E·C] logits or gather's [N, k, C, H] copy of the children's keys,
would exceed --max_gb.
Writes <out>.md (table and the crossover sentence) and <out>.png (time vs cells, log-log).
"""

import collections
import os
import time

from absl import app
from absl import flags
import jax
import jax.numpy as jnp
import numpy as np

from experiments import benchmark
from experiments import common
from spartan_jax.models import memory

MODES = ('fwd', 'fwd+bwd')


def intermediate_gb(impl: str, tokens: int, hidden: int, parents: int, children: int, top_k: int) -> float:
  """Size of the impl's biggest float32 intermediate: dense [N, E·C] logits, gather [N, k, C, H] keys."""
  cells = tokens * (parents * children if impl == 'dense' else top_k * children * hidden)
  return 4 * cells / 1e9


def make_inputs(tokens, hidden, parents, children, seed=0):
  """(x [N, H], g [N, H], params (parent_keys, child_keys, child_values)) in float32, as the init."""
  rng = np.random.default_rng(seed)
  normal = lambda scale, *shape: jnp.asarray(rng.normal(0.0, scale, shape), jnp.float32)
  params = (normal(0.02, parents, hidden), normal(0.02, parents, children, hidden),
            normal(0.02, parents, children, hidden))
  return normal(1.0, tokens, hidden), normal(1.0, tokens, hidden), params


def make_lookup_fn(impl: str, mode: str, top_k: int, temperature: float):
  """f(x, g, params): 'fwd' -> (out, parent_weights); 'fwd+bwd' -> (<out, g>, grads w.r.t. params)."""
  def lookup(x, params):
    return memory.memory_lookup(x, *params, top_k=top_k, temperature=temperature, impl=impl)
  if mode == 'fwd':
    return lambda x, g, params: lookup(x, params)
  if mode == 'fwd+bwd':
    return lambda x, g, params: jax.value_and_grad(lambda p: jnp.vdot(lookup(x, p)[0], g))(params)
  raise ValueError(f'mode={mode!r} is unknown; use one of {MODES}.')


def build_cases(tokens, hidden, top_k, temperature, parents_grid, children_grid, max_gb):
  """Compiles every (E, C, impl, mode) that fits; returns (cases, {(variant, mode): costs}, skipped).

  A case's variant is (E, C, impl); skipped is {(E, C, impl): intermediate GB}.
  """
  cases, costs, skipped = [], {}, {}
  for parents in parents_grid:
    for children in children_grid:
      if top_k > parents:
        raise ValueError(f'top_k={top_k} > E={parents}; drop E={parents} from --parents or lower --top_k.')
      x, g, params = make_inputs(tokens, hidden, parents, children, seed=parents * 1000 + children)
      for impl in memory.IMPLS:
        gb = intermediate_gb(impl, tokens, hidden, parents, children, top_k)
        if gb > max_gb:
          skipped[(parents, children, impl)] = gb
          continue
        for mode in MODES:
          compiled = jax.jit(make_lookup_fn(impl, mode, top_k, temperature)).lower(x, g, params).compile()
          run = lambda c=compiled, x=x, g=g, p=params: jax.block_until_ready(c(x, g, p))
          variant = (parents, children, impl)
          costs[(variant, mode)] = benchmark.compiled_costs(compiled)
          cases.append(benchmark.Case(variant, mode, run, costs[(variant, mode)]['gflop'], tokens))
  return cases, costs, skipped


def summarize(times, costs, skipped) -> list[dict]:
  """One row per (E, C, impl), sorted by cells then E: medians (ms), × dense, costs, or skipped GB."""
  keys = sorted({v for v, _ in times} | set(skipped), key=lambda v: (v[0] * v[1], v[0], v[2]))
  rows = []
  for parents, children, impl in keys:
    variant = (parents, children, impl)
    row = {'E': parents, 'C': children, 'cells': parents * children, 'impl': impl}
    if variant in skipped:
      row['skipped_gb'] = skipped[variant]
    for mode in MODES:
      if (variant, mode) not in times:
        continue
      t = np.asarray(times[(variant, mode)])
      row[mode] = {'ms': 1e3 * float(np.median(t)), **costs[(variant, mode)]}
      dense = times.get(((parents, children, 'dense'), mode))
      if impl != 'dense' and dense is not None:
        r = t / np.asarray(dense)
        row[mode]['x_dense'] = (float(np.median(r)), float(r.min()), float(r.max()))
    rows.append(row)
  return rows


def crossover(xs, dense_s, gather_s):
  """The smallest x from which gather beats dense at every point: the smallest winning x above the largest
  losing x (points may share an x); None if gather loses at the largest x.
  """
  points = list(zip(xs, dense_s, gather_s))
  worst_loss = max((x for x, d, g in points if not g < d), default=-1)
  return min((x for x, d, g in points if g < d and x > worst_loss), default=None)


def crossover_sentence(rows) -> str:
  """One sentence answering "where does gather overtake dense?" from the rows' median times, per mode, in
  parents E (gather's cost grows with C only, dense's with E·C) and in cells E·C."""
  parts = []
  for mode in MODES:
    pairs = collections.defaultdict(dict)
    for r in rows:
      if mode in r:
        pairs[(r['E'], r['C'])][r['impl']] = r[mode]['ms']
    both = [(e, e * c, t['dense'], t['gather']) for (e, c), t in pairs.items() if len(t) == 2]
    if not both:
      parts.append(f'{mode}: no config has both impls')
      continue
    parents, cells, dense, gather = zip(*both)
    e_star, c_star = crossover(parents, dense, gather), crossover(cells, dense, gather)
    wins = sum(g < d for d, g in zip(dense, gather))
    if e_star is None:
      by_e = f'not at every C even at the largest E={max(parents):,}'
    else:
      worst = max(g / d for e, _, d, g in both if e >= e_star)
      by_e = f'from E={e_star:,} parents up at every C (at <= {worst:.2f}x dense)'
    by_cells = (f'from {c_star:,} cells up' if c_star is not None else
                f'not for good in cells, losing at {max(cells):,}')
    parts.append(f'{mode}: {by_e} and {by_cells} (it wins {wins} of {len(both)} configs)')
  return 'Where gather overtakes dense: ' + '; '.join(parts) + '.'


def _cell(row, mode, name):
  if mode not in row:
    return f"skipped ({row['skipped_gb']:.3g} GB)" if name == 'ms' else '–'
  value = row[mode].get(name)
  if name == 'x_dense':
    return '–' if value is None else f'{value[0]:.2f} ({value[1]:.2f}–{value[2]:.2f})'
  return '–' if np.isnan(value) else f'{value:.3g}'


def format_table(rows) -> str:
  names = {'ms': 'ms', 'x_dense': '× dense', 'gflop': 'GFLOP', 'gb': 'GB accessed', 'temp_gb': 'temp GB'}
  header = ['E', 'C', 'cells', 'impl'] + [f'{mode} {title}' for mode in MODES for title in names.values()]
  lines = ['| ' + ' | '.join(header) + ' |', '|' + '---|' * len(header)]
  for r in rows:
    cells = [str(r['E']), str(r['C']), f"{r['cells']:,}", r['impl']]
    cells += [_cell(r, mode, name) for mode in MODES for name in names]
    lines.append('| ' + ' | '.join(cells) + ' |')
  return '\n'.join(lines)


def plot(rows, path: str) -> str:
  """Time vs cells, log-log, one panel per mode; colour = impl, a line per (impl, C) across E."""
  plt = common.pyplot()
  fig, axes = plt.subplots(1, len(MODES), figsize=(11, 4.2))
  children = sorted({r['C'] for r in rows})
  markers = dict(zip(children, 'os^Dv<>ph*'))
  for ax, mode in zip(axes, MODES):
    for color, impl in zip(('C0', 'C3'), memory.IMPLS):
      for c in children:
        line = sorted((r['cells'], r[mode]['ms']) for r in rows
                      if r['impl'] == impl and r['C'] == c and mode in r)
        if line:
          ax.plot(*zip(*line), marker=markers[c], color=color, ls='-' if impl == 'dense' else '--',
                  label=f'{impl}, C={c}')
    ax.set(title=mode, xscale='log', yscale='log', xlabel='memory cells E·C', ylabel='ms per call (median)')
    ax.grid(alpha=.3, which='both')
  axes[0].legend(fontsize='small', ncol=2)
  fig.tight_layout()
  fig.savefig(path, dpi=120)
  plt.close(fig)
  return path


def memory_scaling(tokens=16 * 128, hidden=384, top_k=8, temperature=1.6, parents_grid=(16, 64, 256, 1024),
                   children_grid=(3, 16, 64, 128), repeats=5, min_time=0.2, max_gb=4.0):
  """Builds, times and tabulates; returns (rows, markdown table, crossover sentence)."""
  cases, costs, skipped = build_cases(tokens, hidden, top_k, temperature, parents_grid, children_grid, max_gb)
  rows = summarize(common.time_cases(cases, repeats, min_time, settle=True), costs, skipped)
  return rows, format_table(rows), crossover_sentence(rows)


def define_flags():
  """Defined only when run as a script (see benchmark.define_flags)."""
  flags.DEFINE_integer('batch', 16, 'Sequences; N = batch × length tokens.')
  flags.DEFINE_integer('length', 128, 'Sequence length.')
  flags.DEFINE_integer('hidden', 384, 'H (384: MiniLM).')
  flags.DEFINE_integer('top_k', 8, 'Parents kept per token.')
  flags.DEFINE_float('temperature', 1.6, 'Child softmax temperature.')
  flags.DEFINE_list('parents', ['16', '64', '256', '1024'], 'E grid.')
  flags.DEFINE_list('children', ['3', '16', '64', '128'], 'C grid (children per parent).')
  common.define_timing_flags(repeats=5)
  flags.DEFINE_float('max_gb', 4.0, "Skip an impl whose big intermediate would exceed this many GB.")
  flags.DEFINE_string('out', '', 'Writes <out>.md and <out>.png.')


def main(argv):
  del argv
  f = flags.FLAGS
  command = common.command_line('experiments.memory_scaling')
  tokens = f.batch * f.length
  start = time.time()
  rows, table, sentence = memory_scaling(
      tokens, f.hidden, f.top_k, f.temperature, [int(e) for e in f.parents], [int(c) for c in f.children],
      f.repeats, f.min_time, f.max_gb)
  text = '\n'.join(common.header(
      f'Memory lookup scaling: dense vs gather, N={f.batch}×{f.length} tokens, H={f.hidden}, '
      f'top_k={f.top_k}, temperature {f.temperature}', command, start,
      f'{f.repeats} interleaved rounds over all cases, each sample after an untimed call; ms is the '
      'median per call, × dense the median (min–max) of per-round gather/dense ratios. fwd+bwd is the '
      'value and gradient w.r.t. (parent_keys, child_keys, child_values). GFLOP, GB accessed: XLA '
      f'cost_analysis(); temp GB: memory_analysis(). Skipped: big intermediate > {f.max_gb} GB.')
      + [f'**{sentence}**', '', table, ''])
  print(text)
  if f.out:
    os.makedirs(os.path.dirname(f.out) or '.', exist_ok=True)
    with open(f'{f.out}.md', 'w') as fh:
      fh.write(text + f'\n![time vs cells]({os.path.basename(f.out)}.png)\n')
    plot(rows, f'{f.out}.png')


if __name__ == '__main__':
  define_flags()
  app.run(main)
