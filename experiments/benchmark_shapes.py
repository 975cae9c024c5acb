r"""Every method's inference throughput and train-step time over batch size and sequence length.

  python -m experiments.benchmark_shapes --out=experiments/results/benchmark_shapes_minilm_cpu

Each shape (batch × length) is one `benchmark.benchmark` run (interleaved rounds, medians, per-round
ratios with their interquartile range), without its dropout and gradient checks. Besides the ratios
against backbone (inference throughput) and full fine-tuning (train step), SPARTAN is compared with
each adapter round by round, as the paper does. Writes <out>.md, <out>.csv and <out>.png (bars).
"""

import csv
import io
import os
import time

from absl import app
from absl import flags

from experiments import benchmark
from experiments import common

DEFAULT_SHAPES = ('1x128', '4x128', '16x128', '16x32', '16x64', '16x256')
DEFAULT_VARIANTS = ('backbone', 'spartan_dense', 'spartan_gather', 'houlsby', 'pfeiffer', 'lora', 'bitfit',
                    'full')
SPARTAN, ADAPTERS = 'spartan_dense', ('houlsby', 'pfeiffer')


def parse_shape(text: str) -> tuple[int, int]:
  """'16x128' -> (16, 128)."""
  try:
    batch, length = (int(x) for x in text.lower().split('x'))
  except ValueError:
    raise ValueError(f'A shape is BATCHxLENGTH, e.g. 16x128; got {text!r}.') from None
  if batch < 1 or length < 1:
    raise ValueError(f'Shape {text!r}: batch and length must be positive.')
  return batch, length


def versus(times: dict, a: str, b: str) -> dict:
  """`a` against `b` from per-round times: inference throughput ratio (> 1: a is faster) and train-step
  time ratio (< 1: a is faster), each (median, 25th, 75th percentile)."""
  return {'infer': common.ratio(times[(b, 'infer')], times[(a, 'infer')]),
          'train': common.ratio(times[(a, 'train')], times[(b, 'train')])}


def measure(config, shapes, variants=DEFAULT_VARIANTS, repeats=3, min_time=0.2, log=print) -> list[dict]:
  """One row per (shape, variant): `benchmark.summarize`'s fields plus batch, length and, for SPARTAN,
  'vs_<adapter>' ratios."""
  rows = []
  for batch, length in shapes:
    start = time.time()
    cases, info = benchmark.build_cases(config, variants, batch, 0, length, dropout_cost=False,
                                        grad_check=False)
    times = common.time_cases(cases, repeats, min_time, settle=True)
    for row in benchmark.summarize(cases, times, info):
      row.update(batch=batch, length=length)
      if row['variant'] == SPARTAN:
        row.update({f'vs_{a}': versus(times, SPARTAN, a) for a in ADAPTERS if a in variants})
      rows.append(row)
    log(f'{batch}x{length}: {time.time() - start:.0f} s')
  return rows


def format_tables(rows) -> str:
  """The long table (a row per shape and method), then SPARTAN against the adapters per shape."""
  lines = ['| batch × length | method | trainable | infer ex/s | × backbone | infer GFLOP | infer GB | train ms | '
           '× full | train GFLOP | train GB |', '|' + '---|' * 11]
  fmt = benchmark.fmt_ratio
  for r in rows:
    lines.append(f"| {r['batch']}×{r['length']} | {r['variant']} | {r['trainable']:,} | {r['infer_ex_s']:.1f} | "
                 f"{fmt(r.get('infer_ratio'))} | {r['infer_gflop']:.2f} | {r['infer_gb']:.2f} | "
                 f"{r['train_ms']:.0f} | {fmt(r.get('train_ratio'))} | {r['train_gflop']:.2f} | "
                 f"{r['train_gb']:.2f} |")
  versus_rows = [r for r in rows if any(k.startswith('vs_') for k in r)]
  if versus_rows:
    adapters = [k[3:] for k in versus_rows[0] if k.startswith('vs_')]
    lines += ['', f'SPARTAN ({SPARTAN}) against the adapters, per round: inference throughput × (> 1: SPARTAN '
              'serves more examples per second) and train-step time × (< 1: SPARTAN trains faster).', '',
              '| batch × length | ' + ' | '.join(f'infer × {a} | train × {a}' for a in adapters) + ' |',
              '|' + '---|' * (1 + 2 * len(adapters))]
    for r in versus_rows:
      cells = [f"{fmt(r[f'vs_{a}']['infer'])} | {fmt(r[f'vs_{a}']['train'])}" for a in adapters]
      lines.append(f"| {r['batch']}×{r['length']} | " + ' | '.join(cells) + ' |')
  return '\n'.join(lines)


CSV_FIELDS = ('batch', 'length', 'variant', 'method', 'trainable', 'infer_ex_s', 'infer_ratio', 'infer_gflop',
              'infer_gb', 'train_ms', 'train_ratio', 'train_gflop', 'train_gb')


def to_csv(rows) -> str:
  """Ratios as their medians; blank where the baseline was not measured."""
  out = io.StringIO()
  writer = csv.writer(out, lineterminator='\n')
  writer.writerow(CSV_FIELDS)
  for r in rows:
    writer.writerow([(r[f][0] if f in r else '') if f.endswith('_ratio') else r[f] for f in CSV_FIELDS])
  return out.getvalue()


def plot(rows, path: str) -> str:
  """Two panels of grouped bars over shapes: inference throughput × backbone, train-step time × full
  (a panel is empty when its baseline was not measured)."""
  plt = common.pyplot()
  shapes = list(dict.fromkeys((r['batch'], r['length']) for r in rows))
  variants = list(dict.fromkeys(r['variant'] for r in rows))
  by_key = {(r['batch'], r['length'], r['variant']): r for r in rows}
  width = 0.8 / len(variants)
  fig, axes = plt.subplots(1, 2, figsize=(13, 4.2))
  panels = (('infer_ratio', 'inference throughput × backbone (higher is faster)'),
            ('train_ratio', 'train-step time × full fine-tuning (lower is faster)'))
  for ax, (key, title) in zip(axes, panels):
    for i, variant in enumerate(variants):
      if any(key not in by_key[(*s, variant)] for s in shapes):
        continue
      xs = [j + (i - (len(variants) - 1) / 2) * width for j in range(len(shapes))]
      med = [by_key[(*s, variant)][key][0] for s in shapes]
      err = [[m - by_key[(*s, variant)][key][1] for s, m in zip(shapes, med)],
             [by_key[(*s, variant)][key][2] - m for s, m in zip(shapes, med)]]
      ax.bar(xs, med, width, yerr=err, capsize=2, label=variant, color=f'C{i % 10}')
    ax.axhline(1.0, color='k', lw=0.8)
    ax.set_xticks(range(len(shapes)), [f'{b}×{l}' for b, l in shapes])
    ax.set(title=title, xlabel='batch × length')
    ax.grid(alpha=.3, axis='y')
  common.shared_legend(axes, fontsize='small', ncol=2)
  fig.tight_layout()
  fig.savefig(path, dpi=120)
  plt.close(fig)
  return path


def define_flags():
  """Defined only when run as a script (see benchmark.define_flags)."""
  flags.DEFINE_enum('model', 'minilm', ['minilm', 'roberta-base'], 'Encoder shapes.')
  flags.DEFINE_list('shapes', list(DEFAULT_SHAPES), 'BATCHxLENGTH shapes.')
  flags.DEFINE_list('methods', list(DEFAULT_VARIANTS), f'Rows, from {list(benchmark.VARIANTS)}.')
  common.define_timing_flags(repeats=3)  # Per shape.
  flags.DEFINE_string('out', '', 'Output path without extension: <out>.md, <out>.csv, <out>.png.')


def main(argv):
  del argv
  f = flags.FLAGS
  shapes = [parse_shape(s) for s in f.shapes]  # Bad input fails before any compile.
  unknown = sorted(set(f.methods) - set(benchmark.VARIANTS))
  if unknown:
    raise app.UsageError(f'--methods: unknown {unknown}; choose from {list(benchmark.VARIANTS)}.')
  command = common.command_line('experiments.benchmark_shapes')
  start = time.time()
  rows = measure(benchmark.encoder_config(f.model), shapes, f.methods, f.repeats, f.min_time)
  text = '\n'.join(common.header(
      f'Benchmark over shapes: {f.model}', command, start,
      f'{f.repeats} interleaved rounds per shape, each sample after an untimed call; cells are medians, '
      'ratios the median (interquartile range) of per-round ratios. Train steps have dropout on; GFLOP and '
      'GB (bytes accessed) are XLA\'s cost analysis of the compiled step. backbone, bitfit and full run the '
      'same inference graph: their spread is the noise floor.') + [format_tables(rows), ''])
  print(text)
  if f.out:
    os.makedirs(os.path.dirname(f.out) or '.', exist_ok=True)
    with open(f'{f.out}.md', 'w') as fh:
      fh.write(text)
    with open(f'{f.out}.csv', 'w') as fh:
      fh.write(to_csv(rows))
    print(plot(rows, f'{f.out}.png'))


if __name__ == '__main__':
  define_flags()
  app.run(main)
