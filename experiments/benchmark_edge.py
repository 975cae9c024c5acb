r"""Edge inference: the exported ONNX models in ONNX Runtime, batch 1, side by side in one process.

  python -m experiments.benchmark_edge --out=experiments/results/benchmark_edge_minilm_cpu.md

Rows: the backbone (frozen encoder + head), SPARTAN (dense), Houlsby, Pfeiffer and LoRA (folded into
the weights), all on the MiniLM weights (random where the method adds parameters: speed does not
depend on values). Each is exported once (`spartan_jax.export`), quantized to int8 (ONNX Runtime
dynamic quantization), and timed at batch 1 for every threads × length × precision setting, in
interleaved rounds (`common.time_cases`): cells are medians over rounds, ratios the median
(interquartile range) of per-round ratios. Peak RSS: a fresh process per model that imports only
onnxruntime and numpy, opens the session and runs one call (the process's VmHWM).
Needs the `export` extra.
"""

import os
import subprocess
import sys
import tempfile
import time

from absl import app
from absl import flags
import jax
import numpy as np
import onnxruntime as ort

from experiments import benchmark
from experiments import common
from spartan_jax import export
from spartan_jax.models import bert
from spartan_jax.models import model as model_lib
from spartan_jax.models import pretrained

VARIANTS = ('backbone', 'spartan_dense', 'houlsby', 'pfeiffer', 'lora')
ADAPTERS = ('houlsby', 'pfeiffer', 'lora')
_RSS_SCRIPT = r'''
import sys
import numpy as np, onnxruntime as ort
path, threads, length = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
options = ort.SessionOptions(); options.intra_op_num_threads = threads; options.inter_op_num_threads = 1
session = ort.InferenceSession(path, options, providers=['CPUExecutionProvider'])
ids = np.ones((1, length), np.int32)
session.run(['logits'], {'input_ids': ids, 'attention_mask': ids, 'token_type_ids': 0 * ids})
# VmHWM belongs to this process's memory map; ru_maxrss would carry the parent's peak across exec.
print(next(line.split()[1] for line in open('/proc/self/status') if line.startswith('VmHWM:')))  # KiB.
'''


def export_variants(encoder: str | bert.EncoderConfig, variants, out_dir: str, log=print) -> dict:
  """{(variant, 'fp32' | 'int8'): ONNX path}; `encoder` is 'minilm' or a config (random weights)."""
  paths = {}
  for v in variants:
    method, specs = benchmark.VARIANTS[v]
    if isinstance(encoder, str):
      model, params = model_lib.from_pretrained(encoder, method, 2, **specs)
    else:
      model = model_lib.build_model(encoder, method, 2, **specs)
      params = benchmark.random_params(model, encoder)
    # Noise on every weight: fresh adapters and LoRA start at zero, which ORT might simplify away.
    rng = np.random.default_rng(0)
    params = jax.tree.map(lambda p: p + 0.01 * rng.standard_normal(p.shape).astype(p.dtype), params)
    fp32 = export.to_onnx(export.single_task_fn(model, params), os.path.join(out_dir, f'{v}.onnx'))
    paths[(v, 'fp32')] = fp32
    paths[(v, 'int8')] = export.quantize(fp32, os.path.join(out_dir, f'{v}.int8.onnx'))
    log(f'exported {v}')
  return paths


def session(path: str, threads: int) -> ort.InferenceSession:
  options = ort.SessionOptions()
  options.intra_op_num_threads, options.inter_op_num_threads = threads, 1
  return ort.InferenceSession(path, options, providers=['CPUExecutionProvider'])


def build_cases(paths: dict, variants, threads, lengths, vocab_size: int) -> list[benchmark.Case]:
  """One case per variant × setting; kind = the setting (threads, length, precision)."""
  cases = []
  for t in threads:
    for length in lengths:
      ids = np.random.default_rng(length).integers(vocab_size // 2, vocab_size, (1, length)).astype(np.int32)
      feed = {'input_ids': ids, 'attention_mask': np.ones_like(ids), 'token_type_ids': np.zeros_like(ids)}
      for precision in ('fp32', 'int8'):
        for v in variants:
          s = session(paths[(v, precision)], t)
          cases.append(benchmark.Case(variant=v, kind=(t, length, precision),
                                      run=lambda s=s, feed=feed: s.run(['logits'], feed), gflop=float('nan'),
                                      items=1))
  return cases


def peak_rss_mib(path: str, threads: int, length: int) -> float:
  out = subprocess.run([sys.executable, '-c', _RSS_SCRIPT, path, str(threads), str(length)], check=True,
                       capture_output=True, text=True).stdout
  return int(out.split()[-1]) / 1024


def summarize(cases, times, paths, variants, rss_length: int) -> list[dict]:
  """One row per setting × variant: ex/s, × backbone, SPARTAN × each adapter, peak RSS, file MB."""
  rows = []
  for kind in dict.fromkeys(c.kind for c in cases):
    t, length, precision = kind
    for v in variants:
      row = {'threads': t, 'length': length, 'precision': precision, 'variant': v,
             'ex_s': 1.0 / float(np.median(times[(v, kind)])),
             'file_mb': os.path.getsize(paths[(v, precision)]) / 1e6}
      if v != 'backbone' and ('backbone', kind) in times:
        row['vs_backbone'] = common.ratio(times[('backbone', kind)], times[(v, kind)])
      if v == 'spartan_dense':
        for a in ADAPTERS:
          if (a, kind) in times:
            row[f'vs_{a}'] = common.ratio(times[(a, kind)], times[(v, kind)])
      if length == rss_length:
        row['rss_mib'] = peak_rss_mib(paths[(v, precision)], t, length)
      rows.append(row)
  return rows


def format_table(rows) -> str:
  cols = [('threads', lambda r: str(r['threads'])), ('length', lambda r: str(r['length'])),
          ('precision', lambda r: r['precision']), ('model', lambda r: r['variant']),
          ('ex/s', lambda r: f"{r['ex_s']:.1f}"),
          ('× backbone', lambda r: benchmark.fmt_ratio(r.get('vs_backbone')))]
  cols += [(f'SPARTAN × {a}', lambda r, a=a: benchmark.fmt_ratio(r.get(f'vs_{a}'))) for a in ADAPTERS]
  cols += [('peak RSS MiB', lambda r: f"{r['rss_mib']:.0f}" if 'rss_mib' in r else '–'),
           ('file MB', lambda r: f"{r['file_mb']:.1f}")]
  lines = ['| ' + ' | '.join(name for name, _ in cols) + ' |', '|' + '---|' * len(cols)]
  lines += ['| ' + ' | '.join(fn(r) for _, fn in cols) + ' |' for r in rows]
  return '\n'.join(lines)


def measure(encoder, variants=VARIANTS, threads=(1, 2), lengths=(64, 128), repeats=10, min_time=0.2,
            log=print) -> list[dict]:
  with tempfile.TemporaryDirectory() as tmp:
    paths = export_variants(encoder, variants, tmp, log)
    config = bert.load_encoder_config(pretrained.resolve_checkpoint(encoder)) if isinstance(encoder, str) else encoder
    cases = build_cases(paths, variants, threads, lengths, config.vocab_size)
    times = common.time_cases(cases, repeats, min_time)
    return summarize(cases, times, paths, variants, rss_length=max(lengths))


def define_flags():
  """Defined only when run as a script (importing this module must not clash with other flags)."""
  flags.DEFINE_list('threads', ['1', '2'], 'ONNX Runtime intra-op threads.')
  flags.DEFINE_list('lengths', ['64', '128'], 'Sequence lengths (batch 1).')
  flags.DEFINE_list('methods', list(VARIANTS), f'Rows, from {list(VARIANTS)}.')
  common.define_timing_flags(repeats=10)
  flags.DEFINE_string('out', '', 'Also write the markdown here.')


def main(argv):
  del argv
  f = flags.FLAGS
  unknown = sorted(set(f.methods) - set(VARIANTS))
  if unknown:
    raise app.UsageError(f'--methods: unknown rows {unknown}; choose from {list(VARIANTS)}.')
  command = common.command_line('experiments.benchmark_edge')
  start = time.time()
  rows = measure('minilm', f.methods, [int(t) for t in f.threads], [int(n) for n in f.lengths], f.repeats,
                 f.min_time, log=lambda m: print(m, file=sys.stderr))
  text = '\n'.join(common.header(
      f'Edge benchmark: ONNX Runtime {ort.__version__}, MiniLM, batch 1', command, start,
      f'{f.repeats} interleaved rounds; ex/s is the median over rounds; × backbone is throughput against '
      'the backbone and SPARTAN × X is SPARTAN\'s throughput over X\'s, each the median (interquartile '
      'range) of per-round ratios; peak RSS is a fresh process per model at the longest length.')
      + [format_table(rows), ''])
  common.emit(text, f.out)


if __name__ == '__main__':
  define_flags()
  app.run(main)
