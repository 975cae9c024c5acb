"""Training and evaluation: the jitted steps and the loop."""

import contextlib
import functools
import itertools
import json
import os
import time

from absl import logging
import jax
import jax.numpy as jnp
import numpy as np
import optax
import tqdm
import transformers
from flax import traverse_util

from spartan_jax import checkpoint
from spartan_jax import config_validation
from spartan_jax import metric_writers
from spartan_jax import metrics as metrics_lib
from spartan_jax import optim
from spartan_jax import partition
from spartan_jax import pid_lock
from spartan_jax import provenance
from spartan_jax import sharding
from spartan_jax.data import kshot
from spartan_jax.data import pipeline
from spartan_jax.data import sources
from spartan_jax.data import tasks
from spartan_jax.models import model as model_lib
from spartan_jax.models import peft
from spartan_jax.models import pretrained
from spartan_jax.train_state import TrainState, create_train_state

_DTYPES = {'float32': jnp.float32, 'bfloat16': jnp.bfloat16}
_TIE_BREAK = 1e-12  # Per step, added to the dev score so that equal scores prefer the later step.


class DivergenceError(RuntimeError):
  """The loss or gradient norm became NaN or infinite; the run stops without results."""


class WorkdirInUseError(RuntimeError):
  """Another live run holds the workdir's TRAINING lock."""


def task_loss(logits, labels, mask):
  """Mean over real rows (mask=1) of cross-entropy, or of squared error when there is one output."""
  if logits.shape[-1] == 1:
    per_row = jnp.square(logits[:, 0] - labels.astype(jnp.float32))
  else:
    per_row = optax.softmax_cross_entropy_with_integer_labels(logits, labels)
  return jnp.sum(per_row * mask) / jnp.maximum(jnp.sum(mask), 1.0)


def _apply(model, params, batch, **kwargs):
  return model.apply({'params': params}, batch['input_ids'], batch['attention_mask'], batch['token_type_ids'],
                     **kwargs)


def make_train_step(model, tx: optax.GradientTransformation, aux_loss_weight: float = 0.0, labels=None):
  """train_step(state, batch, rng) -> (state, metrics); dropout rng folded with the step.

  With the param `labels`, metrics include the trainable parameters' gradient norm.
  """

  def train_step(state: TrainState, batch, rng):
    rng = jax.random.fold_in(rng, state.step)

    def loss_fn(params):
      out = _apply(model, params, batch, deterministic=False, rngs={'dropout': rng})
      loss = task_loss(out['logits'], batch['label'], batch['mask'])
      return loss + aux_loss_weight * out['aux_loss'], (loss, out['aux_loss'])

    (_, (loss, aux_loss)), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.params)
    updates, opt_state = tx.update(grads, state.opt_state, state.params)
    params = optax.apply_updates(state.params, updates)
    new_state = state.replace(step=state.step + 1, params=params, opt_state=opt_state)
    metrics = {'loss': loss, 'aux_loss': aux_loss}
    if labels is not None:
      metrics['grad_norm'] = optax.tree.norm(partition.trainable_subtree(grads, labels))
    return new_state, metrics

  return train_step


def make_eval_step(model):
  """eval_step(params, batch) -> logits [B, num_labels] (float32)."""

  def eval_step(params, batch):
    return _apply(model, params, batch, deterministic=True)['logits']

  return eval_step


# ----------------------------------------------------------------------------
# The loop.
# ----------------------------------------------------------------------------


def model_specs(config) -> dict:
  """The method's MemorySpec / AdapterSpec / LoRASpec from `config.method`."""
  m = config.method
  layers = None if m.memory.layers == 'all' else tuple(int(i) for i in str(m.memory.layers).split(',') if i)
  memory = peft.MemorySpec(**{**m.memory.to_dict(), 'layers': layers})
  return model_lib.method_specs(m.name, memory=memory, adapter=peft.AdapterSpec(**m.adapter.to_dict()),
                                lora=peft.LoRASpec(**{**m.lora.to_dict(), 'targets': tuple(m.lora.targets)}))


def load_data(config, task) -> dict:
  """{'train', 'dev', 'test': {split: examples}} for the config's source and protocol."""
  d = config.data
  glue_dir = sources.resolve_glue_dir(d.glue_dir)
  source = d.source if d.source != 'auto' else ('tsv' if glue_dir else 'tfds')
  load = lambda split: sources.load_examples(task, split, source, glue_dir=glue_dir,
                                             tfds_data_dir=d.tfds_data_dir or None)
  train_examples = load('train')
  eval_examples = {split: load(split) for split in task.eval_splits}
  size = {'lmbff': d.k, 'first_n': d.n, 'full': None}.get(d.protocol)
  return kshot.make_splits(task, train_examples, eval_examples, d.protocol, k=size, seed=d.split_seed)


def load_encoded(config, task):
  """(checkpoint dir, train, dev or None, {test split: data}), tokenised with the checkpoint's tokenizer.

  The data loads first: a missing dataset fails before any checkpoint download.
  """
  splits = load_data(config, task)
  checkpoint_dir = pretrained.resolve_checkpoint(config.model.checkpoint)
  tokenizer = transformers.AutoTokenizer.from_pretrained(checkpoint_dir)
  encode = lambda examples: pipeline.encode(task, examples, tokenizer, config.data.max_length,
                                            config.data.buckets)
  return (checkpoint_dir, encode(splits['train']), encode(splits['dev']) if splits['dev'] else None,
          {name: encode(examples) for name, examples in splits['test'].items()})


def num_train_steps(train_config, num_examples: int) -> int:
  """`num_steps` if set, else `num_epochs` epochs of `num_examples` (the last batch of each padded)."""
  return train_config.num_steps or train_config.num_epochs * -(-num_examples // train_config.batch_size)


def check_workdir(workdir: str, config) -> None:
  """Refuses a workdir that holds a run of another config; records the config otherwise (process 0)."""
  os.makedirs(workdir, exist_ok=True)
  path = os.path.join(workdir, 'config.json')
  current = json.loads(config.to_json_best_effort(sort_keys=True))
  if os.path.exists(path):
    with open(path) as f:
      saved = json.load(f)
    if saved != current:
      flat_saved, flat_now = (traverse_util.flatten_dict(c, sep='.') for c in (saved, current))
      diff = sorted(k for k in flat_saved.keys() | flat_now.keys() if flat_saved.get(k) != flat_now.get(k))
      raise ValueError(f'Workdir {workdir} holds a run of a different config (fields {diff}); use another '
                       '--workdir, or delete this one to start over.')
  elif jax.process_index() == 0:
    with open(path + '.tmp', 'w') as f:
      json.dump(current, f, indent=2)
    os.replace(path + '.tmp', path)


def _train_stream(encoded, batch_size: int, seed: int, start_step: int):
  """Batches from `start_step` on, epoch after epoch, as an uninterrupted run would see them."""
  steps_per_epoch = -(-len(encoded) // batch_size)
  epoch, skip = divmod(start_step, steps_per_epoch)
  while True:
    yield from itertools.islice(pipeline.train_batches(encoded, batch_size, seed, epoch), skip, None)
    epoch, skip = epoch + 1, 0


def evaluate(eval_step, params, encoded, task, batch_size: int, shard) -> dict:
  """Metrics of `params` on one split (the padded rows of the last batch are dropped)."""
  predictions, labels = [], []
  for batch in pipeline.eval_batches(encoded, batch_size):
    logits = np.asarray(eval_step(params, shard(batch)))
    real = batch['mask'] > 0
    if not np.isfinite(logits[real]).all():
      raise DivergenceError('the model predicts NaN or infinity')
    predictions.append(logits[real, 0] if task.is_regression else logits[real].argmax(-1))
    labels.append(batch['label'][real])
  return metrics_lib.compute_metrics(task, np.concatenate(predictions), np.concatenate(labels))


@contextlib.contextmanager
def _holding(workdir: str):
  """Process 0 holds <workdir>/TRAINING (pid_lock) meanwhile, so a second run of the workdir is refused."""
  if jax.process_index() != 0:
    yield
    return
  path = os.path.join(workdir, pid_lock.WORKDIR_LOCK)
  held_by = pid_lock.acquire(path)
  if held_by:
    raise WorkdirInUseError(f'Workdir {workdir} is in use by process {held_by} (see {path}): wait for that '
                            'run to end or stop it. A lock written on another host stays until it is deleted by hand.')
  try:
    yield
  finally:
    pid_lock.release(path)


def train_and_evaluate(config, workdir: str) -> dict:
  """Trains, selects the best dev checkpoint, evaluates it on the test split(s); returns results.json."""
  start_time = time.time()
  # Inputs first: bad config or data fails here, before any model is loaded.
  config_validation.validate(config)
  task = tasks.get_task(config.task)
  specs = model_specs(config)
  check_workdir(workdir, config)
  with _holding(workdir):
    return _train_and_evaluate(config, workdir, task, specs, start_time)


def _train_and_evaluate(config, workdir: str, task, specs: dict, start_time: float) -> dict:
  dtype = _DTYPES[config.model.dtype]
  checkpoint_dir, train_data, dev_data, test_data = load_encoded(config, task)
  logging.info('%s: %d train, %d dev, test %s examples.', task.name, len(train_data),
               len(dev_data) if dev_data else 0, {k: len(v) for k, v in test_data.items()})

  # Mesh, model, optimizer, state.
  mesh = sharding.create_mesh()
  replicated, data_sharding = sharding.replicated(mesh), sharding.batch_sharding(mesh)
  shard = functools.partial(sharding.shard_batch, sharding=data_sharding)
  model, params = model_lib.from_pretrained(checkpoint_dir, config.method.name, task.num_labels,
                                            seed=config.seed, dtype=dtype, pooling=config.model.pooling, **specs)
  labels = partition.param_labels(params, peft.trainable_rules(config.method.name, specs['memory']))
  counts = partition.count_params(params, labels)
  t = config.train
  total_steps = num_train_steps(t, len(train_data))
  tx = optim.make_optimizer(labels, t.learning_rate, total_steps, int(t.warmup_ratio * total_steps),
                            t.weight_decay, t.grad_clip_norm)
  state = jax.jit(functools.partial(create_train_state, tx=tx), out_shardings=replicated)(params)
  del params
  state_sharding = jax.tree.map(lambda _: replicated, state)
  train_step = jax.jit(make_train_step(model, tx, config.method.aux_loss_weight, labels),
                       in_shardings=(state_sharding, data_sharding, replicated),
                       out_shardings=(state_sharding, replicated), donate_argnums=0)
  eval_step = jax.jit(make_eval_step(model), in_shardings=(state_sharding.params, data_sharding),
                      out_shardings=replicated)

  # Resume from the workdir's latest checkpoint, if any.
  manager = checkpoint.create_manager(os.path.join(workdir, 'checkpoints'), t.keep_checkpoints)
  meta = {'task': task.name, 'checkpoint': config.model.checkpoint, 'method': config.method.to_dict(),
          'num_labels': task.num_labels, 'pooling': model.pooling}
  if manager.latest_step() is not None:
    state, _ = checkpoint.restore(manager, manager.latest_step(), state, labels)
    logging.info('Resumed from step %d.', int(state.step))
  start_step = int(state.step)

  primary = jax.process_index() == 0  # Process 0 alone writes the workdir's files, checkpoints aside.
  writer = metric_writers.MetricWriter(workdir, start_step, to_files=primary)
  rng = jax.random.key(config.seed)
  batches = _train_stream(train_data, t.batch_size, config.seed, start_step)
  progress = tqdm.tqdm(total=total_steps, initial=start_step, desc=f'{task.name}/{config.method.name}',
                       disable=None if primary else True, dynamic_ncols=True)

  def diverged(step, what):
    progress.close()
    kept = manager.latest_step() or 'none'
    return DivergenceError(
        f'Diverged at step {step} of {total_steps} with learning rate {t.learning_rate}: {what}. Nothing '
        f'of this run was kept beyond its last finite checkpoint (step {kept}); lower '
        '--config.train.learning_rate or set --config.train.grad_clip_norm (delete the workdir to start over).')

  def check_finite(step, train_metrics):
    loss, grad_norm = (float(train_metrics[k]) for k in ('loss', 'grad_norm'))
    if not (np.isfinite(loss) and np.isfinite(grad_norm)):
      raise diverged(step, f'loss {loss}, gradient norm {grad_norm}')

  loop_start, eval_seconds = time.time(), 0.0
  last_time, last_step = loop_start, start_step
  unchecked = None  # (step, metrics), checked once the next step is dispatched: the host never idles the device.
  for step in range(start_step + 1, total_steps + 1):
    state, train_metrics = train_step(state, shard(next(batches)), rng)
    progress.update()
    if unchecked is not None:
      check_finite(*unchecked)
    unchecked = (step, train_metrics)
    logs, evals = step % t.log_every == 0 or step == total_steps, step % t.eval_every == 0 or step == total_steps
    if logs or evals:  # Nothing is written or saved from a step not yet checked.
      check_finite(*unchecked)
      unchecked = None
    if logs:
      train_metrics = jax.device_get(train_metrics)
      rate = (step - last_step) / (time.time() - last_time)
      progress.set_postfix(loss=f"{train_metrics['loss']:.4f}")
      writer.write(step, {f'train/{k}': v for k, v in train_metrics.items()} | {'train/steps_per_s': rate})
      last_time, last_step = time.time(), step
    if evals:
      eval_start = time.time()
      if dev_data is not None:
        try:
          dev = evaluate(eval_step, state.params, dev_data, task, t.eval_batch_size, shard)
        except DivergenceError as e:
          raise diverged(step, f'on dev {e}') from None
        dev_score = metrics_lib.split_score(task, dev)
        if not np.isfinite(dev_score):
          raise diverged(step, f'dev metrics {dev}')
        writer.write(step, {f'dev/{k}': v for k, v in dev.items()} | {'dev/score': dev_score})
      else:
        dev_score = 0.0  # No dev split: every checkpoint ties, and ties go to the latest.
      # Ties between dev scores go to the later step, the same in orbax's BestN and best_step().
      checkpoint.save(manager, state, labels, meta,
                      {checkpoint.BEST_METRIC: dev_score + _TIE_BREAK * step, 'dev_score_raw': dev_score})
      eval_seconds += time.time() - eval_start
      last_time += time.time() - eval_start  # Steps/s counts training only.
  progress.close()
  manager.wait_until_finished()
  train_seconds = time.time() - loop_start - eval_seconds

  # The best dev checkpoint on every test split.
  best_step = manager.best_step()
  best, _ = checkpoint.restore(manager, best_step, state, labels)
  eval_start = time.time()
  test = {name: evaluate(eval_step, best.params, data, task, t.eval_batch_size, shard)
          for name, data in test_data.items()}
  eval_seconds += time.time() - eval_start
  best_trainable = jax.device_get(partition.trainable_subtree(best.params, labels))
  delta_bytes = checkpoint.save_delta(os.path.join(workdir, 'delta.safetensors'), best_trainable, meta) \
      if primary else None  # Other processes write no files.
  results = {
      'task': task.name, 'method': config.method.name, 'protocol': config.data.protocol, 'seed': config.seed,
      'pooling': model.pooling,
      'test': test, 'test_score': metrics_lib.task_score(task, test),
      'best_step': int(best_step), 'total_steps': total_steps,
      'best_dev_score': manager.metrics(best_step)['dev_score_raw'] if dev_data is not None else None,
      'params': counts, 'delta_bytes': delta_bytes,
      'seconds': {'train': train_seconds, 'eval': eval_seconds, 'total': time.time() - start_time},
      'devices': [str(d) for d in mesh.devices.flat], 'commit': provenance.git_commit(),
      'config': json.loads(config.to_json_best_effort()),
  }
  writer.write(total_steps, {f'test/{name}/{k}': v for name, m in test.items() for k, v in m.items()})
  writer.close()
  if primary:
    with open(os.path.join(workdir, 'results.json.tmp'), 'w') as f:
      json.dump(results, f, indent=2)
    os.replace(os.path.join(workdir, 'results.json.tmp'), os.path.join(workdir, 'results.json'))
  logging.info('Test: %s', test)
  return results
