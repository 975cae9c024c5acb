r"""Where the encoder's time goes on this machine: XLA's per-op times, grouped by the part of the model.

  python -m experiments.profile_encoder --out=experiments/results/profile_encoder_minilm_cpu.md

Traces --calls calls of each compiled function with `jax.profiler.trace`, reads the trace with
`jax.profiler.ProfileData`, maps every executed HLO instruction to the JAX op that made it (the
`op_name` metadata of the compiled module) and sums the instruction times per part: attention
projections, attention core (scores, mask, softmax, context), feed-forward matmuls, GELU and residual
adds, LayerNorm, SPARTAN memory, dropout, embeddings, head, optimizer. Backward-pass ops (JAX's
`transpose(jvp(...))`) are their own rows. Times are summed over XLA's threads, so a row is CPU time
per call; "wall" is the median wall time of a call. A fusion counts under the op at its root, so a row
can hold work fused into it (e.g. a bias add and GELU fused before a dropout mask count as dropout).
On the CPU the large matmuls run on Eigen's thread pool, whose shards carry no instruction events: their
rows hold only the calling thread's share (16x128 forward: 19 ms for 29 GFLOP of feed-forward matmuls),
which is why the op sum is below the wall time. Read the rows as where the non-matmul time goes.
MiniLM weights (packaged), float32.
"""

import collections
import glob
import re
import tempfile
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
from spartan_jax.models import model as model_lib
from spartan_jax.models import peft

_INSTRUCTION = re.compile(r'\s*(?:ROOT )?%([\w.\-]+) = .*?metadata=\{[^}]*op_name="([^"]+)"')
_LAYER_PART = re.compile(r'/layer_\d+/([^/]+)(/([^/]+))?')


def op_names(hlo_text: str) -> dict[str, str]:
  """{HLO instruction name: the JAX op_name it came from} for a compiled module's text."""
  return {m.group(1): m.group(2) for m in map(_INSTRUCTION.match, hlo_text.splitlines()) if m}


def part_of(op_name: str) -> str:
  """The model part an op belongs to, from its op_name (e.g. 'jit(f)/SequenceClassifier/encoder/layer_0/...')."""
  backward = 'transpose(' in op_name
  prefix = 'backward: ' if backward else ''
  if 'dropout' in op_name.lower() or 'random_bits' in op_name or 'threefry' in op_name:
    return prefix + 'dropout'
  if 'SequenceClassifier' not in op_name:
    return 'optimizer and other'
  if '/memory' in op_name:
    return prefix + 'SPARTAN memory'
  if '/embeddings/' in op_name:
    return prefix + 'embeddings'
  if '/head/' in op_name or op_name.endswith('/head'):
    return prefix + 'head'
  m = _LAYER_PART.search(op_name)
  if not m:
    return prefix + 'other model ops'
  part, sub = m.group(1), m.group(3)
  if part == 'attention':
    projection = sub in ('query', 'key', 'value', 'output')
    return prefix + ('attention projections' if projection else 'attention core (scores, softmax, context)')
  if part in ('intermediate', 'output'):
    return prefix + 'feed-forward matmuls'
  if part.endswith('layer_norm'):
    return prefix + 'LayerNorm (with its residual add)'
  if part.endswith('adapter'):
    return prefix + 'adapters'
  return prefix + 'GELU and other elementwise'


def profile(compiled, args, calls: int) -> tuple[dict[str, float], float]:
  """({part: seconds per call}, median wall seconds per call) of `compiled(*args)` over `calls` traced calls."""
  names = op_names(compiled.as_text())
  jax.block_until_ready(compiled(*args))
  walls = []
  with tempfile.TemporaryDirectory() as trace_dir:
    with jax.profiler.trace(trace_dir):
      for _ in range(calls):
        start = time.perf_counter()
        jax.block_until_ready(compiled(*args))
        walls.append(time.perf_counter() - start)
    path = sorted(glob.glob(f'{trace_dir}/**/*.xplane.pb', recursive=True))[-1]
    data = jax.profiler.ProfileData.from_file(path)
  seconds = collections.Counter()
  for plane in data.planes:
    for line in plane.lines:
      for event in line.events:
        if event.name in names:
          seconds[part_of(names[event.name])] += event.duration_ns * 1e-9 / calls
  return dict(seconds), float(np.median(walls))


def encoder_cases(checkpoint: str, batch: int, length: int, vocab_low: int = 1000):
  """[(name, compiled, args)]: the backbone forward and SPARTAN's train step (dropout on), on random ids
  from [vocab_low, vocab size) (BERT's first 1000 are special and unused tokens)."""
  model, params = model_lib.from_pretrained(checkpoint, 'head_only')
  ids = jnp.asarray(np.random.default_rng(0).integers(vocab_low, model.config.vocab_size, (batch, length)), jnp.int32)
  data = {'input_ids': ids, 'attention_mask': jnp.ones_like(ids), 'token_type_ids': jnp.zeros_like(ids),
          'label': jnp.arange(batch, dtype=jnp.int32) % 2, 'mask': jnp.ones((batch,), jnp.float32)}
  cases = []
  forward = jax.jit(train.make_eval_step(model)).lower(params, data).compile()
  cases.append((f'backbone forward {batch}x{length}', forward, (params, data)))
  model, params = model_lib.from_pretrained(checkpoint, 'spartan')
  labels = partition.param_labels(params, peft.trainable_rules('spartan'))
  tx = optim.make_optimizer(labels, learning_rate=1e-5, total_steps=10**6, weight_decay=0.01)
  state = train_state.create_train_state(params, tx)
  step = jax.jit(train.make_train_step(model, tx)).lower(state, data, jax.random.key(0)).compile()
  cases.append((f'SPARTAN train step {batch}x{length}', step, (state, data, jax.random.key(0))))
  return cases


def format_table(results: dict[str, tuple[dict[str, float], float]]) -> str:
  parts = sorted({p for seconds, _ in results.values() for p in seconds},
                 key=lambda p: -max(s.get(p, 0.0) for s, _ in results.values()))
  lines = ['| part | ' + ' | '.join(f'{name}: ms | %' for name in results) + ' |',
           '|---|' + '---:|---:|' * len(results)]
  for p in parts:
    cells = []
    for seconds, _ in results.values():
      total = sum(seconds.values())
      cells += [f'{1e3 * seconds[p]:.1f}', f'{100 * seconds[p] / total:.1f}'] if p in seconds else ['–', '–']
    lines.append(f'| {p} | ' + ' | '.join(cells) + ' |')
  lines.append('| **sum of op times (CPU ms per call)** | ' + ' | '.join(
      f'{1e3 * sum(s.values()):.1f} | 100' for s, _ in results.values()) + ' |')
  lines.append('| **wall ms per call (median)** | ' + ' | '.join(
      f'{1e3 * wall:.1f} | ' for _, wall in results.values()) + ' |')
  return '\n'.join(lines)


def define_flags():
  """Defined only when run as a script (importing this module must not clash with other flags)."""
  flags.DEFINE_string('checkpoint', 'minilm', 'A BERT checkpoint directory, or minilm (packaged).')
  flags.DEFINE_integer('batch', 16, 'Batch size.')
  flags.DEFINE_integer('length', 128, 'Sequence length.')
  flags.DEFINE_integer('calls', 5, 'Traced calls per case.')
  flags.DEFINE_string('out', '', 'Also write the markdown here.')


def main(argv):
  del argv
  f = flags.FLAGS
  command = common.command_line('experiments.profile_encoder')
  start = time.time()
  results = {name: profile(compiled, args, f.calls) for name, compiled, args in
             encoder_cases(f.checkpoint, f.batch, f.length)}
  text = '\n'.join(common.header(
      f'Profile: where the time goes, {f.checkpoint}, float32', command, start,
      f'{f.calls} traced calls per case; per-op times from jax.profiler, summed over XLA threads and grouped '
      'by the JAX op that made each HLO instruction.') + [format_table(results), ''])
  common.emit(text, f.out)


if __name__ == '__main__':
  define_flags()
  app.run(main)
