r"""One command that checks numerics and measures speed on whatever device JAX has (GPU, TPU or CPU).

  python -m experiments.accelerator_check --out=experiments/results/accelerator_h200 --budget_s=480
  python -m experiments.accelerator_check --dry_run --out=/tmp/accelerator_dry  # tiny shapes, CPU, minutes

Parts, most valuable first; <out>/accelerator_check.{json,md} are rewritten after each part, so a
killed run keeps what finished. When --budget_s runs out, the running part stops (keeping the rows it
had) at its next check and the rest are marked skipped. A part that raises is marked failed and the next one runs.

1. numerics: the Hugging Face golden outputs (tests/golden/*.npz: random BERT and RoBERTa, MiniLM) in
   float32 and bfloat16 (float32 params), max abs errors on real tokens; memory_lookup dense against
   gather, values and gradients.
2. speed: per (model, batch × length, dtype), every method's jitted inference and train step
   (`benchmark.build_cases`, random weights): examples/s, step ms, XLA's GFLOP and memory estimate,
   MFU against the device's peak (PEAK_TFLOPS), ratios against backbone / full and SPARTAN against
   the adapters; the device's peak memory in use after the part (`memory_stats()`, None on CPU).
3. demo: configs/demo.py end to end (`train.train_and_evaluate` into a temporary workdir), between the
   main speed table and the other shapes.
"""

import dataclasses
import json
import os
import tempfile
import time
import traceback

from absl import app
from absl import flags
from flax import traverse_util
import jax
import jax.numpy as jnp
import numpy as np

from experiments import benchmark
from experiments import benchmark_shapes
from experiments import common
from spartan_jax import config_utils
from spartan_jax import partition
from spartan_jax import train
from spartan_jax.models import bert
from spartan_jax.models import memory as memory_lib
from spartan_jax.models import model as model_lib
from spartan_jax.models import pretrained

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
GOLDEN = os.path.join(_ROOT, 'tests', 'golden')
DTYPES = {'float32': jnp.float32, 'bfloat16': jnp.bfloat16}
# Dense peak TFLOP/s per chip by a substring of device_kind (first match wins). 'float32' is the
# peak at JAX's default matmul precision: TF32 tensor cores on NVIDIA, bfloat16 passes on TPU.
PEAK_TFLOPS = (
    ('h200', {'bfloat16': 989.0, 'float32': 494.0}),
    ('h100 pcie', {'bfloat16': 756.0, 'float32': 378.0}),
    ('h100', {'bfloat16': 989.0, 'float32': 494.0}),
    ('a100', {'bfloat16': 312.0, 'float32': 156.0}),
    ('tpu v6 lite', {'bfloat16': 918.0, 'float32': 918.0}),
    ('tpu v5 lite', {'bfloat16': 197.0, 'float32': 197.0}),
    ('tpu v5', {'bfloat16': 459.0, 'float32': 459.0}),
    ('tpu v4', {'bfloat16': 275.0, 'float32': 275.0}),
)
SPEED_VARIANTS = ('backbone', 'spartan_dense', 'spartan_gather', 'houlsby', 'pfeiffer', 'lora', 'full')
# (model, batch, length) of the full run; the main table first, the demo after it.
MAIN, OTHERS = ('roberta-base', 32, 128), (('roberta-base', 8, 512), ('minilm', 32, 128), ('minilm', 8, 512))
DRY_MAIN, DRY_OTHERS = ('roberta-base', 2, 8), (('roberta-base', 1, 16), ('minilm', 2, 8), ('minilm', 1, 16))
_TINY = dict(vocab_size=99, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=37,
             max_position_embeddings=40)


class OutOfTime(Exception):
  """The time budget ran out."""


def peak_tflops(device_kind: str) -> dict | None:
  kind = device_kind.lower()
  return next((peak for key, peak in PEAK_TFLOPS if key in kind), None)


def device_info() -> dict:
  dev = jax.devices()[0]
  return {'backend': jax.default_backend(), 'device_kind': dev.device_kind, 'device_count': jax.device_count(),
          'jax': jax.__version__, 'platform_version': getattr(getattr(dev, 'client', None), 'platform_version', None),
          'peak_tflops': peak_tflops(dev.device_kind), 'machine': common.machine_line()}


def memory_in_use() -> dict | None:
  """Peak and current bytes in use on the first device, or None where the backend keeps no stats."""
  stats = jax.devices()[0].memory_stats()
  if not stats:
    return None
  return {'peak_gb': stats.get('peak_bytes_in_use', float('nan')) / 1e9,
          'in_use_gb': stats.get('bytes_in_use', float('nan')) / 1e9}


def encoder_config(model: str, dry_run: bool) -> bert.EncoderConfig:
  config = benchmark.encoder_config(model)
  return dataclasses.replace(config, **_TINY) if dry_run else config


# Numerics.

def _max_err(a, b, where=None) -> float:
  a, b = np.asarray(a, np.float32), np.asarray(b, np.float32)
  return float(np.abs(np.where(where, a - b, 0) if where is not None else a - b).max())


def golden_errors(name: str, dtype) -> dict:
  """Max abs errors of the encoder against one golden file (real tokens only), and the output scale."""
  g = np.load(os.path.join(GOLDEN, f'{name}.npz'))
  hf_config = json.loads(str(g['config']))
  state = pretrained.convert_state_dict({k[len('state/'):]: g[k] for k in g.files if k.startswith('state/')})
  num_labels = g['logits'].shape[-1]
  if name == 'minilm':  # The golden holds only the head; the backbone comes from the package.
    model, params = model_lib.from_pretrained('minilm', 'head_only', num_labels, dtype=dtype, pooling='cls_pooler')
    params = partition.merge_trainable(params, traverse_util.unflatten_dict(state, sep='/'))
  else:
    model = model_lib.build_model(bert.EncoderConfig.from_dict(hf_config), 'head_only', num_labels, dtype)
    params = pretrained.merge_pretrained(model_lib.init_params(model, jax.random.key(0)), state)
  out = jax.jit(model.apply)({'params': params}, g['input_ids'], g['attention_mask'], g['token_type_ids'])
  real = g['attention_mask'][..., None] > 0
  return {'hidden_err': _max_err(out['last_hidden_state'], g['last_hidden_state'], real),
          'logits_err': _max_err(out['logits'], g['logits']),
          'hidden_scale': float(np.abs(np.where(real, g['last_hidden_state'], 0)).max())}


def lookup_errors(tokens: int, hidden: int, parents: int, children: int, top_k: int, dtype) -> dict:
  """memory_lookup dense against gather: max abs differences of the output, the parent weights and the
  gradients of <out, random cotangent> for x and the three tables, and the scale of each."""
  keys = jax.random.split(jax.random.key(0), 5)
  x = jax.random.normal(keys[0], (tokens, hidden)).astype(dtype)
  tables = (jax.random.normal(keys[1], (parents, hidden)) / hidden**0.5,
            jax.random.normal(keys[2], (parents, children, hidden)) / hidden**0.5,
            jax.random.normal(keys[3], (parents, children, hidden)))
  cotangent = jax.random.normal(keys[4], (tokens, hidden))

  def run(impl):
    def loss(x, *tables):
      out, weights = memory_lib.memory_lookup(x, *tables, top_k=top_k, temperature=1.6, impl=impl)
      return jnp.sum(out.astype(jnp.float32) * cotangent), (out, weights)
    return jax.jit(jax.grad(loss, argnums=(0, 1, 2, 3), has_aux=True))(x, *tables)

  (grads_d, (out_d, w_d)), (grads_g, (out_g, w_g)) = run('dense'), run('gather')
  names = ('x', 'parent_keys', 'child_keys', 'child_values')
  result = {'out_err': _max_err(out_d, out_g), 'out_scale': _max_err(out_d, 0),
            'weights_err': _max_err(w_d, w_g)}
  for n, gd, gg in zip(names, grads_d, grads_g):
    result[f'grad_{n}_err'], result[f'grad_{n}_scale'] = _max_err(gd, gg), _max_err(gd, 0)
  return result


def numerics(record: dict, budget, dry_run: bool) -> None:
  record['golden'] = []
  for name in ('bert', 'roberta', 'minilm'):
    for dtype_name, dtype in DTYPES.items():
      budget.check()
      row = {'golden': name, 'dtype': dtype_name}
      try:
        row.update(golden_errors(name, dtype))
      except ImportError as e:  # The packaged MiniLM is not installed.
        row['error'] = str(e)
      record['golden'].append(row)
  shapes = [(64, 32, 16, 3, 8), (64, 32, 64, 4, 8)] if dry_run else [(4096, 768, 16, 3, 8), (4096, 768, 1024, 4, 8)]
  record['lookup'] = []
  for tokens, hidden, parents, children, top_k in shapes:
    for dtype_name, dtype in DTYPES.items():
      budget.check()
      record['lookup'].append({'tokens': tokens, 'hidden': hidden, 'parents': parents, 'children': children,
                               'top_k': top_k, 'dtype': dtype_name,
                               **lookup_errors(tokens, hidden, parents, children, top_k, dtype)})


# Speed.

def speed(record: dict, budget, model: str, batch: int, length: int, dtype_name: str, dry_run: bool,
          variants=SPEED_VARIANTS, repeats: int = 5, min_time: float = 0.2) -> None:
  """Compiles variant by variant (checking the budget between), then times them all in interleaved
  rounds; writes rows into record['rows']."""
  config = encoder_config(model, dry_run)
  cases, info = [], {}
  record['compile_s'] = {}  # Per variant (inference + train step), kept if the budget runs out.
  for variant in variants:
    budget.check()
    start = time.time()
    c, i = benchmark.build_cases(config, [variant], batch, 0, length, dropout_cost=False, grad_check=False,
                                 dtype=DTYPES[dtype_name])
    record['compile_s'][variant] = time.time() - start
    cases += c
    info.update(i)
  budget.check()
  times = common.time_cases(cases, repeats, min_time, settle=True)
  peak = peak_tflops(jax.devices()[0].device_kind)
  peak = peak and peak[dtype_name] * 1e12
  mem = {(c.variant, c.kind): c.mem_gb for c in cases}
  rows = benchmark.summarize(cases, times, info)
  for row in rows:
    v = row['variant']
    infer_s, train_s = batch / row['infer_ex_s'], row['train_ms'] / 1e3
    row.update(model=model, batch=batch, length=length, dtype=dtype_name, infer_ms=1e3 * infer_s,
               train_ex_s=batch / train_s, infer_mem_gb=mem[(v, 'infer')], train_mem_gb=mem[(v, 'train')],
               infer_mfu=peak and row['infer_gflop'] * 1e9 / infer_s / peak,
               train_mfu=peak and row['train_gflop'] * 1e9 / train_s / peak)
    if v == benchmark_shapes.SPARTAN:
      row.update({f'vs_{a}': benchmark_shapes.versus(times, v, a)
                  for a in benchmark_shapes.ADAPTERS if a in variants})
  record['rows'] = rows
  record['device_memory'] = memory_in_use()


def demo_run(record: dict, budget, dry_run: bool) -> None:
  """configs/demo.py end to end in a temporary workdir; the dry run trains 2 steps."""
  budget.check()
  config = config_utils.load_config(os.path.join(_ROOT, 'configs', 'demo.py'))
  if dry_run:
    config.train.update(num_steps=2, eval_every=2, log_every=1)
  with tempfile.TemporaryDirectory() as workdir:
    results = train.train_and_evaluate(config, workdir)
  record.update(test=results['test'], test_score=results['test_score'], best_step=results['best_step'],
                total_steps=results['total_steps'], seconds=results['seconds'],
                steps_per_s=results['total_steps'] / results['seconds']['train'])


def make_parts(dry_run: bool, repeats: int, min_time: float, variants=SPEED_VARIANTS) -> list:
  """[(name, fn(record, budget))], in the order they run."""
  main, others = (DRY_MAIN, DRY_OTHERS) if dry_run else (MAIN, OTHERS)

  def speed_parts(shape):
    model, batch, length = shape
    return [(f'speed {model} {batch}x{length} {d}',
             lambda r, b, m=model, bs=batch, l=length, d=d: speed(r, b, m, bs, l, d, dry_run, variants, repeats,
                                                                  min_time)) for d in DTYPES]
  parts = [('numerics', lambda r, b: numerics(r, b, dry_run))] + speed_parts(main)
  parts.append(('demo', lambda r, b: demo_run(r, b, dry_run)))
  for shape in others:
    parts += speed_parts(shape)
  return parts


# Running under a budget.

class Budget:
  """A deadline: check() raises OutOfTime once it has passed. Parts check between steps (goldens,
  lookups, variants, before timing), so a run can overrun by one such step or the demo run."""

  def __init__(self, seconds: float):
    self.deadline = time.time() + seconds

  def left(self) -> float:
    return self.deadline - time.time()

  def check(self) -> None:
    if self.left() <= 0:
      raise OutOfTime()


def run_parts(parts, out: str, budget_s: float, header: dict, write=None) -> dict:
  """Runs the parts in order within budget_s seconds; after each, writes <out>/accelerator_check.{json,md}.
  Each part gets a status: done, partial (the budget ran out inside it; its record keeps what it had),
  skipped (no time left), failed (it raised; the error is kept)."""
  write = write or write_files
  start = time.time()
  budget = Budget(budget_s)
  results = {**header, 'budget_s': budget_s, 'parts': {}}
  for name, _ in parts:
    results['parts'][name] = {'status': 'skipped', 'seconds': 0.0, 'result': {}}
  for name, fn in parts:
    part = results['parts'][name]
    if budget.left() <= 0:
      break
    part_start = time.time()
    try:
      fn(part['result'], budget)
      part['status'] = 'done'
    except OutOfTime:
      part['status'] = 'partial'
    except Exception as e:  # pylint: disable=broad-except
      part.update(status='failed', error=f'{type(e).__name__}: {e}', traceback=traceback.format_exc()[-4000:])
    part['seconds'] = time.time() - part_start
    results['total_seconds'] = time.time() - start
    write(results, out)
  results['total_seconds'] = time.time() - start
  write(results, out)
  return results


# Output.

def _f(x, spec='.3g'):
  return '–' if x is None or (isinstance(x, float) and not np.isfinite(x)) else format(x, spec)


def _table(header, rows) -> list[str]:
  return ['| ' + ' | '.join(header) + ' |', '|' + '---|' * len(header)] + \
         ['| ' + ' | '.join(row) + ' |' for row in rows]


def format_part(name: str, part: dict) -> list[str]:
  lines = [f"## {name}: {part['status']} ({part['seconds']:.0f} s)", '']
  r = part['result']
  if 'error' in part:
    lines += ['```', part['error'], '```', '']
  if r.get('golden'):
    lines += ['Hugging Face goldens, max abs error on real tokens:', '']
    lines += _table(['golden', 'dtype', 'hidden err', 'hidden scale', 'logits err'],
                    [[g['golden'], g['dtype'], _f(g.get('hidden_err')), _f(g.get('hidden_scale')),
                      _f(g.get('logits_err')) if 'error' not in g else g['error']] for g in r['golden']]) + ['']
  if r.get('lookup'):
    lines += ['memory_lookup dense vs gather, max abs difference (scale: max abs of dense):', '']
    lines += _table(['tokens × H', 'E × C, top-k', 'dtype', 'out (scale)', 'weights', 'grad x (scale)',
                     'grad parent keys', 'grad child keys', 'grad child values'],
                    [[f"{l['tokens']}×{l['hidden']}", f"{l['parents']}×{l['children']}, {l['top_k']}", l['dtype'],
                      f"{_f(l['out_err'])} ({_f(l['out_scale'])})", _f(l['weights_err']),
                      f"{_f(l['grad_x_err'])} ({_f(l['grad_x_scale'])})",
                      *(f"{_f(l[f'grad_{n}_err'])} ({_f(l[f'grad_{n}_scale'])})"
                        for n in ('parent_keys', 'child_keys', 'child_values'))] for l in r['lookup']]) + ['']
  if r.get('rows'):
    fmt = benchmark.fmt_ratio
    lines += _table(['method', 'infer ex/s', 'infer ms', '× backbone', 'infer MFU', 'infer mem GB', 'train ex/s',
                     'train ms', '× full', 'train MFU', 'train mem GB', 'train GFLOP'],
                    [[x['variant'], _f(x['infer_ex_s'], '.1f'), _f(x['infer_ms'], '.2f'), fmt(x.get('infer_ratio')),
                      _f(x['infer_mfu'], '.1%'), _f(x['infer_mem_gb'], '.3g'), _f(x['train_ex_s'], '.1f'),
                      _f(x['train_ms'], '.2f'), fmt(x.get('train_ratio')), _f(x['train_mfu'], '.1%'),
                      _f(x['train_mem_gb'], '.3g'), _f(x['train_gflop'], '.4g')] for x in r['rows']]) + ['']
    for x in r['rows']:
      for a in benchmark_shapes.ADAPTERS:
        if f'vs_{a}' in x:
          lines.append(f"- SPARTAN vs {a}: inference throughput × {fmt(x[f'vs_{a}']['infer'])}, train-step "
                       f"time × {fmt(x[f'vs_{a}']['train'])}")
  if 'compile_s' in r:
    lines.append('- compile s: ' + ', '.join(f'{v} {t:.1f}' for v, t in r['compile_s'].items()))
    if 'device_memory' in r:
      mem = r['device_memory']
      lines.append(f"- device memory after the part: {_f(mem['peak_gb'], '.2f')} GB peak, "
                   f"{_f(mem['in_use_gb'], '.2f')} GB in use" if mem else '- device memory stats: none')
    lines.append('')
  if 'test' in r:
    lines += [f"test {json.dumps(r['test'])}, score {_f(r['test_score'])}, best step {r['best_step']} of "
              f"{r['total_steps']}, {_f(r['steps_per_s'], '.2f')} train steps/s, seconds "
              f"{json.dumps({k: round(v, 1) for k, v in r['seconds'].items()})}", '']
  return lines


def format_markdown(results: dict) -> str:
  d = results['device']
  lines = [f"# Accelerator check: {d['device_kind']} ({d['backend']})", '', f"`{results['command']}`", '',
           f"- jax {d['jax']}, {d['device_count']} device(s), peak TFLOP/s {d['peak_tflops']}, "
           f"platform {d['platform_version']}", f"- machine: {d['machine']}",
           f"- {'dry run (tiny shapes), ' if results['dry_run'] else ''}budget {results['budget_s']:.0f} s, "
           f"total {results.get('total_seconds', 0):.0f} s",
           '- speed: ' + results['method'], '',
           '| part | status | seconds |', '|---|---|---:|']
  lines += [f"| {n} | {p['status']} | {p['seconds']:.0f} |" for n, p in results['parts'].items()]
  lines.append('')
  for name, part in results['parts'].items():
    if part['status'] != 'skipped':
      lines += format_part(name, part)
  return '\n'.join(lines)


def write_files(results: dict, out: str) -> None:
  os.makedirs(out, exist_ok=True)
  for name, text in (('accelerator_check.json', json.dumps(results, indent=1, default=str)),
                     ('accelerator_check.md', format_markdown(results))):
    with open(os.path.join(out, name + '.tmp'), 'w') as f:
      f.write(text)
    os.replace(os.path.join(out, name + '.tmp'), os.path.join(out, name))


def define_flags():
  """Defined only when run as a script (see benchmark.define_flags)."""
  flags.DEFINE_string('out', None, 'Folder for accelerator_check.json and accelerator_check.md.', required=True)
  flags.DEFINE_float('budget_s', 480, 'Seconds for all parts; the part running when they end stops.')
  flags.DEFINE_bool('dry_run', False, 'Tiny shapes, one round: checks the script itself (CPU, CI).')
  flags.DEFINE_list('methods', list(SPEED_VARIANTS), f'Speed rows, from {list(benchmark.VARIANTS)}.')
  common.define_timing_flags(repeats=5)


def make_header(command: str, dry_run: bool, repeats: int, min_time: float) -> dict:
  return {'command': command, 'device': device_info(), 'dry_run': dry_run,
          'method': f'{repeats} interleaved rounds of at least {min_time} s per case; ms and ex/s are medians, '
                    'ratios the median (interquartile range) of per-round ratios; MFU = XLA GFLOP / time / '
                    'peak; mem GB = XLA\'s estimate for the compiled step (arguments + outputs + temporaries).'}


def main(argv):
  del argv
  f = flags.FLAGS
  repeats, min_time = (1, 0.0) if f.dry_run else (f.repeats, f.min_time)
  header = make_header(common.command_line('experiments.accelerator_check'), f.dry_run, repeats,
                       min_time)
  results = run_parts(make_parts(f.dry_run, repeats, min_time, tuple(f.methods)), f.out, f.budget_s, header)
  print(format_markdown(results))


if __name__ == '__main__':
  define_flags()
  app.run(main)
