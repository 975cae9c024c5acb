r"""Our encoder against Hugging Face's PyTorch BERT on the same CPU and weights: forward and a train step.

  python -m experiments.benchmark_frameworks --out=experiments/results/benchmark_frameworks_minilm_cpu.md

Every framework runs in a worker process of its own, started by this one, which only orchestrates. The
workers take turns one case at a time, so their thread pools never run together. Each round times every
case once in every worker (the worker order rotated each round); a cell is the median over rounds and a
ratio the median (interquartile range) of per-round ratios.

Workers:
  torch    transformers' BertModel (its default attention, sdpa), torch.set_num_threads(--threads).
  jax      our encoder with the library's XLA CPU defaults (spartan_jax/xla_flags.py).
  jax_ynn  the same with SPARTAN_JAX_XLA_DEFAULTS=0 (jaxlib's own CPU fusions): what the defaults buy.
Every model is the encoder + masked mean pooling + a linear head (MiniLM's pooling), float32, full-length
random ids. Forward: eval mode, at every --shapes. Train step at --train_shape: dropout on, cross-entropy,
clipping at 1.0, AdamW (lr 1e-5, weight decay 0.01); `head+LN` trains the head and every LayerNorm
(torch: requires_grad; ours: an optax.multi_transform mask), `spartan` the memory, head and LayerNorms,
`full` everything. Before timing, the workers' mean-pooled outputs on one batch are compared (same weights).
torch is the dev extra's test reference: only the torch worker imports it.
"""

import json
import math
import os
import subprocess
import sys
import time

from absl import app
from absl import flags
import numpy as np

from experiments import benchmark
from experiments import common
from spartan_jax import xla_flags

WORKERS = ('torch', 'jax', 'jax_ynn')
CHECK_SHAPE = (2, 16)


def forward_case(batch: int, length: int) -> str:
  return f'forward {batch}x{length}'


def train_case(batch: int, length: int) -> str:
  return f'train {batch}x{length}'


def parse_shape(text: str) -> tuple[int, int]:
  try:
    batch, length = (int(x) for x in text.lower().split('x'))
  except ValueError:
    raise ValueError(f'Shape {text!r} is not BATCHxLENGTH, e.g. 16x128.') from None
  return batch, length


def random_ids(vocab_size: int, batch: int, length: int, seed: int = 0) -> np.ndarray:
  """Ids past BERT's special and unused tokens (the first 1000) when the vocabulary has them."""
  low = 1000 if vocab_size > 2000 else 1
  return np.random.default_rng(seed).integers(low, vocab_size, (batch, length)).astype(np.int32)


# ----------------------------------------------------------------------------
# Workers: each builds its cases, then answers `time CASE` and `pooled` on stdin.
# ----------------------------------------------------------------------------


def _timed(run, min_time: float):
  """A function that loops `run` for >= min_time seconds and returns the seconds per call."""
  run()  # Warm-up (compiles).
  start = time.perf_counter()
  run()
  loops = max(1, math.ceil(min_time / max(time.perf_counter() - start, 1e-6)))

  def sample():
    start = time.perf_counter()
    for _ in range(loops):
      run()
    return (time.perf_counter() - start) / loops
  return sample


def jax_cases(checkpoint, shapes, train_shape):
  """{case: run}, {case: note} and pooled(ids) for our encoder."""
  import jax  # pylint: disable=import-outside-toplevel
  import jax.numpy as jnp  # pylint: disable=import-outside-toplevel
  from spartan_jax import optim, partition, train, train_state  # pylint: disable=import-outside-toplevel
  from spartan_jax.models import model as model_lib, peft  # pylint: disable=import-outside-toplevel

  def batch_of(ids):
    ids = jnp.asarray(ids)
    b = ids.shape[0]
    return {'input_ids': ids, 'attention_mask': jnp.ones_like(ids), 'token_type_ids': jnp.zeros_like(ids),
            'label': jnp.arange(b, dtype=jnp.int32) % 2, 'mask': jnp.ones((b,), jnp.float32)}

  models = {m: model_lib.from_pretrained(checkpoint, m, pooling='mean') for m in ('head_only', 'spartan', 'full')}
  vocab = models['head_only'][0].config.vocab_size
  rules = {'head_only': ((r'^head/', 'trainable'), (r'layer_norm/(scale|bias)$', 'trainable'), (r'.*', 'frozen')),
           'spartan': peft.trainable_rules('spartan'), 'full': peft.trainable_rules('full')}
  cases = {}
  for name, method in (('backbone', 'head_only'), ('spartan', 'spartan')):
    model, params = models[method]
    step = jax.jit(train.make_eval_step(model))
    for b, t in shapes:
      batch = batch_of(random_ids(vocab, b, t))
      cases[(forward_case(b, t), name)] = lambda s=step, p=params, x=batch: jax.block_until_ready(s(p, x))
  b, t = train_shape
  batch, rng = batch_of(random_ids(vocab, b, t)), jax.random.key(0)
  for name, method in (('head+LN', 'head_only'), ('spartan', 'spartan'), ('full', 'full')):
    model, params = models[method]
    labels = partition.param_labels(params, rules[method])
    tx = optim.make_optimizer(labels, learning_rate=1e-5, total_steps=10**6, weight_decay=0.01)
    step = jax.jit(train.make_train_step(model, tx), donate_argnums=0)
    cell = [train_state.create_train_state(jax.tree.map(jnp.copy, params), tx)]

    def run(step=step, cell=cell):
      cell[0], metrics = step(cell[0], batch, rng)
      jax.block_until_ready((cell[0], metrics))
    cases[(train_case(b, t), name)] = run

  model, params = models['head_only']
  hidden = jax.jit(lambda p, x: model.apply({'params': p}, x['input_ids'], x['attention_mask'])['last_hidden_state'])
  pooled = lambda ids: np.asarray(hidden(params, batch_of(ids))).mean(axis=1)
  return cases, pooled, vocab


def torch_cases(checkpoint, shapes, train_shape, threads: int):
  """{case: run} and pooled(ids) for transformers' BertModel + mean pooling + a linear head."""
  import torch  # pylint: disable=import-outside-toplevel
  import transformers  # pylint: disable=import-outside-toplevel
  from spartan_jax.models import pretrained  # pylint: disable=import-outside-toplevel

  torch.set_num_threads(threads)
  torch.manual_seed(0)

  class Classifier(torch.nn.Module):

    def __init__(self, path):
      super().__init__()
      self.encoder = transformers.BertModel.from_pretrained(path, add_pooling_layer=False)
      self.dropout = torch.nn.Dropout(self.encoder.config.hidden_dropout_prob)
      self.head = torch.nn.Linear(self.encoder.config.hidden_size, 2)

    def forward(self, ids):
      mask = torch.ones_like(ids)
      hidden = self.encoder(input_ids=ids, attention_mask=mask).last_hidden_state
      return self.head(self.dropout(hidden.mean(dim=1)))

  path = pretrained.resolve_checkpoint(checkpoint)
  model = Classifier(path).eval()
  vocab = model.encoder.config.vocab_size
  cases = {}
  for b, t in shapes:
    ids = torch.from_numpy(random_ids(vocab, b, t)).long()

    def forward(ids=ids):
      with torch.inference_mode():
        model(ids)
    cases[(forward_case(b, t), 'backbone')] = forward

  b, t = train_shape
  trainer = Classifier(path).train()
  for name, p in trainer.named_parameters():
    p.requires_grad_(name.startswith('head.') or 'LayerNorm' in name)
  opt = torch.optim.AdamW([p for p in trainer.parameters() if p.requires_grad], lr=1e-5, weight_decay=0.01)
  ids = torch.from_numpy(random_ids(vocab, b, t)).long()
  labels = torch.arange(b) % 2

  def train_step():
    loss = torch.nn.functional.cross_entropy(trainer(ids), labels)
    loss.backward()
    torch.nn.utils.clip_grad_norm_([p for p in trainer.parameters() if p.requires_grad], 1.0)
    opt.step()
    opt.zero_grad(set_to_none=True)
  cases[(train_case(b, t), 'head+LN')] = train_step

  def pooled(ids):
    with torch.inference_mode():
      ids = torch.from_numpy(ids).long()
      return model.encoder(input_ids=ids, attention_mask=torch.ones_like(ids)).last_hidden_state.mean(1).numpy()
  return cases, pooled, vocab


def serve(kind: str, checkpoint: str, shapes, train_shape, threads: int, min_time: float) -> None:
  """The worker loop: prints its case names as JSON, then one JSON answer per stdin command."""
  if kind == 'torch':
    cases, pooled, vocab = torch_cases(checkpoint, shapes, train_shape, threads)
  else:
    cases, pooled, vocab = jax_cases(checkpoint, shapes, train_shape)
  samplers = {key: _timed(run, min_time) for key, run in cases.items()}
  print(json.dumps({'cases': [list(k) for k in cases]}), flush=True)
  for line in sys.stdin:
    command = line.split(maxsplit=1)
    if command[0] == 'time':
      case, name = json.loads(command[1])
      print(json.dumps({'seconds': samplers[(case, name)]()}), flush=True)
    elif command[0] == 'pooled':
      print(json.dumps({'pooled': pooled(random_ids(vocab, *CHECK_SHAPE, seed=1)).tolist()}), flush=True)
    else:
      raise ValueError(f'Unknown worker command {line!r}.')


class Worker:
  """A `--worker=KIND` subprocess of this module; its stderr goes to `log`."""

  def __init__(self, kind: str, args: list[str], log):
    env = dict(os.environ)
    if kind == 'jax_ynn':  # Without the defaults this process's import of spartan_jax added.
      env[xla_flags.OPT_OUT] = '0'
      env['XLA_FLAGS'] = ' '.join(f for f in env.get('XLA_FLAGS', '').split()
                                  if f.lstrip('-').split('=', 1)[0] not in xla_flags.CPU_DEFAULTS)
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    self.kind = kind
    self.proc = subprocess.Popen(
        [sys.executable, '-m', 'experiments.benchmark_frameworks', f'--worker={kind}', *args], cwd=root, env=env,
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log, text=True)
    self.cases = [tuple(c) for c in self._read()['cases']]

  def _read(self) -> dict:
    line = self.proc.stdout.readline()
    if not line:
      raise RuntimeError(f'Worker {self.kind} exited (status {self.proc.wait()}); see its log.')
    return json.loads(line)

  def ask(self, command: str) -> dict:
    self.proc.stdin.write(command + '\n')
    self.proc.stdin.flush()
    return self._read()

  def close(self):
    self.proc.stdin.close()
    self.proc.wait()


# ----------------------------------------------------------------------------
# The orchestrator.
# ----------------------------------------------------------------------------


def time_workers(workers: dict, repeats: int) -> dict:
  """{(worker, case, name): [seconds per call, one per round]}: case by case, workers in turn."""
  by_case = {}
  for kind, w in workers.items():
    for case, name in w.cases:
      by_case.setdefault(case, []).append((kind, name))
  times = {(k, c, n): [] for c, entries in by_case.items() for k, n in entries}
  for r in range(repeats):
    for case, entries in by_case.items():
      for i in range(len(entries)):
        kind, name = entries[(i + r) % len(entries)]
        times[(kind, case, name)].append(workers[kind].ask('time ' + json.dumps([case, name]))['seconds'])
  return times


def summarize(times: dict, items: dict) -> list[dict]:
  """One row per case: each (worker, name)'s median ms and ex/s, and the ratios the issue asks for."""
  rows = []
  for case in dict.fromkeys(c for _, c, _ in times):
    t = {(k, n): v for (k, c, n), v in times.items() if c == case}
    row = {'case': case, 'ms': {f'{k} {n}': 1e3 * float(np.median(v)) for (k, n), v in t.items()},
           'ex_s': {f'{k} {n}': items[case] / float(np.median(v)) for (k, n), v in t.items()}}
    base = 'backbone' if case.startswith('forward') else 'head+LN'
    # label: (a, b); the ratio is a's throughput over b's, i.e. b's time over a's.
    pairs = {'jax / torch': (('jax', base), ('torch', base)),
             'jax_ynn / torch': (('jax_ynn', base), ('torch', base)),
             'jax / jax_ynn': (('jax', base), ('jax_ynn', base)),
             'spartan / jax backbone': (('jax', 'spartan'), ('jax', 'backbone')),
             'spartan / torch head+LN': (('jax', 'spartan'), ('torch', 'head+LN'))}
    row['ratios'] = {label: common.ratio(t[b], t[a]) for label, (a, b) in pairs.items() if a in t and b in t}
    if ('jax', 'spartan') in t and ('jax', 'full') in t and not case.startswith('forward'):
      row['ratios']['spartan step / full step'] = common.ratio(t[('jax', 'spartan')], t[('jax', 'full')])
    rows.append(row)
  return rows


def format_table(rows) -> str:
  names = list(dict.fromkeys(n for r in rows for n in r['ms']))
  ratios = list(dict.fromkeys(n for r in rows for n in r['ratios']))
  lines = ['| case | ' + ' | '.join(f'{n} ms' for n in names) + ' | ' + ' | '.join(ratios) + ' |',
           '|' + '---|' * (1 + len(names) + len(ratios))]
  for r in rows:
    cells = [f"{r['ms'][n]:.1f}" if n in r['ms'] else '–' for n in names]
    cells += [benchmark.fmt_ratio(r['ratios'].get(n)) for n in ratios]
    lines.append(f"| {r['case']} | " + ' | '.join(cells) + ' |')
  return '\n'.join(lines)


def measure(checkpoint='minilm', kinds=WORKERS, shapes=((1, 128), (16, 128), (16, 32), (16, 256)),
            train_shape=(16, 128), threads=2, repeats=7, min_time=0.5, log=None) -> tuple[list[dict], float]:
  """Starts the workers one after another, checks they agree, times them; returns (rows, max |Δ pooled|)."""
  args = [f'--checkpoint={checkpoint}', '--shapes=' + ','.join(f'{b}x{t}' for b, t in shapes),
          f'--train_shape={train_shape[0]}x{train_shape[1]}', f'--threads={threads}', f'--min_time={min_time}']
  workers = {}
  try:
    for kind in kinds:
      workers[kind] = Worker(kind, args, log)
    pooled = [np.asarray(w.ask('pooled')['pooled']) for w in workers.values()]
    max_diff = max((float(np.abs(p - pooled[0]).max()) for p in pooled), default=0.0)
    times = time_workers(workers, repeats)
  finally:
    for w in workers.values():
      w.close()
  items = {forward_case(b, t): b for b, t in shapes} | {train_case(*train_shape): train_shape[0]}
  return summarize(times, items), max_diff


def define_flags():
  """Defined only when run as a script (importing this module must not clash with other flags)."""
  flags.DEFINE_string('worker', None, 'Internal: run as this worker.')
  flags.DEFINE_string('checkpoint', 'minilm', 'A BERT checkpoint directory, or minilm (packaged).')
  flags.DEFINE_list('shapes', ['1x128', '16x128', '16x32', '16x256'], 'Forward BATCHxLENGTH shapes.')
  flags.DEFINE_string('train_shape', '16x128', 'Train step BATCHxLENGTH.')
  flags.DEFINE_list('workers', list(WORKERS), f'Workers, from {list(WORKERS)}.')
  flags.DEFINE_integer('threads', 2, 'PyTorch intra-op threads (XLA uses every core).')
  common.define_timing_flags(repeats=7)
  flags.DEFINE_string('out', '', 'Also write the markdown here.')


def main(argv):
  del argv
  f = flags.FLAGS
  shapes = [parse_shape(s) for s in f.shapes]
  train_shape = parse_shape(f.train_shape)
  if f.worker:
    serve(f.worker, f.checkpoint, shapes, train_shape, f.threads, f.min_time)
    return
  unknown = sorted(set(f.workers) - set(WORKERS))
  if unknown:
    raise app.UsageError(f'--workers: unknown {unknown}; choose from {list(WORKERS)}.')
  command = common.command_line('experiments.benchmark_frameworks')
  start = time.time()
  rows, max_diff = measure(f.checkpoint, f.workers, shapes, train_shape, f.threads, f.repeats, f.min_time)
  text = '\n'.join(common.header(
      f'Frameworks: our JAX encoder against PyTorch, {f.checkpoint}, float32', command, start,
      f'{f.repeats} rounds; each worker a process of its own, taking turns case by case. Cells are median ms per '
      'call; ratios are throughput (the median and interquartile range of per-round ratios), except '
      '"spartan step / full step", a ratio of step times. Mean-pooled outputs of the workers on one batch agree '
      f'to {max_diff:.1e} (max abs).') + [format_table(rows), ''])
  common.emit(text, f.out)


if __name__ == '__main__':
  define_flags()
  app.run(main)
