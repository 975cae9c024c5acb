"""Checkpoints that hold only what training changes, and the per-task delta file.

The orbax manager saves {'trainable', 'opt_state', 'step'} (atomic, keeps the latest N and the best
on dev) plus a JSON 'meta' item; the frozen backbone is rebuilt from its pretrained id. The delta is
the best trainable subtree in one safetensors file: all a task needs beside the shared backbone.
"""

import json
import os

import jax
import numpy as np
import orbax.checkpoint as ocp
from flax import traverse_util
from safetensors.numpy import load_file, save_file

from spartan_jax import partition
from spartan_jax.train_state import TrainState

BEST_METRIC = 'dev_score'


class CheckpointError(ValueError):
  """A checkpoint or delta file that is corrupt or belongs to another run."""


def create_manager(directory: str, keep: int) -> ocp.CheckpointManager:
  policy = ocp.checkpoint_managers.AnyPreservationPolicy([
      ocp.checkpoint_managers.LatestN(keep),
      ocp.checkpoint_managers.BestN(get_metric_fn=lambda m: m[BEST_METRIC], reverse=False, n=1),
  ])
  options = ocp.CheckpointManagerOptions(preservation_policy=policy, best_fn=lambda m: m[BEST_METRIC],
                                         best_mode='max', enable_async_checkpointing=False)
  return ocp.CheckpointManager(os.path.abspath(directory), options=options, item_names=('state', 'meta'))


def _item(state: TrainState, labels) -> dict:
  return {'trainable': partition.trainable_subtree(state.params, labels), 'opt_state': state.opt_state,
          'step': state.step}


def save(manager: ocp.CheckpointManager, state: TrainState, labels, meta: dict, metrics: dict) -> None:
  manager.save(int(state.step), metrics=metrics, args=ocp.args.Composite(
      state=ocp.args.StandardSave(_item(state, labels)), meta=ocp.args.JsonSave(meta)))


def restore(manager: ocp.CheckpointManager, step: int, state: TrainState, labels) -> tuple[TrainState, dict]:
  """`state` (the freshly created one) with step `step`'s trainable params, optimizer state and step."""
  abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, _item(state, labels))
  try:
    restored = manager.restore(step, args=ocp.args.Composite(
        state=ocp.args.StandardRestore(abstract), meta=ocp.args.JsonRestore()))
  except Exception as e:  # pylint: disable=broad-except
    reason = str(e).strip().splitlines()[0][:300] if str(e).strip() else ''
    raise CheckpointError(f'Checkpoint {manager.directory / str(step)} cannot be restored into this run '
                          f'({type(e).__name__}: {reason}); it is truncated, edited or from another '
                          'config: delete it (or the workdir) to start over.') from None
  item = restored['state']
  params = partition.merge_trainable(state.params, item['trainable'])
  return state.replace(step=item['step'], params=params, opt_state=item['opt_state']), restored['meta']


def save_delta(path: str, trainable: dict, meta: dict) -> int:
  """Writes the trainable subtree (float32) and its meta atomically; returns the file's bytes."""
  flat = {k: np.asarray(v, np.float32) for k, v in traverse_util.flatten_dict(trainable, sep='/').items()}
  bad = sorted(k for k, v in flat.items() if not np.isfinite(v).all())
  if bad:
    raise ValueError(f'Not writing {path}: parameters {bad[:3]} are not finite.')
  tmp = f'{path}.tmp'
  save_file(flat, tmp, metadata={'meta': json.dumps(meta, sort_keys=True)})
  os.replace(tmp, path)
  return os.path.getsize(path)


def load_delta(path: str, expect: dict | None = None) -> tuple[dict, dict]:
  """(trainable subtree, meta) from `save_delta`; merge with `partition.merge_trainable`.

  `expect`, e.g. {'task': 'rte', 'method': 'spartan', 'checkpoint': 'minilm'}, refuses a delta of
  another task, method (meta['method']['name']) or backbone.
  """
  from safetensors import safe_open  # pylint: disable=import-outside-toplevel
  try:
    with safe_open(path, 'np') as f:
      meta = json.loads((f.metadata() or {})['meta'])
    flat = load_file(path)
    if not isinstance(meta, dict):
      raise ValueError('its meta is not a JSON object')
  except Exception as e:  # pylint: disable=broad-except  # safetensors raises its own error types.
    raise CheckpointError(f'{path} is not a delta written by save_delta ({type(e).__name__}: {e}); '
                          'rerun the training that writes it.') from None
  method = meta.get('method')
  found = {'task': meta.get('task'), 'method': method.get('name') if isinstance(method, dict) else method,
           'checkpoint': meta.get('checkpoint')}
  wrong = {k: (v, found.get(k)) for k, v in (expect or {}).items() if found.get(k) != v}
  if wrong:
    raise CheckpointError(f'{path} is a delta of another run: ' + ', '.join(
        f'{k} {got!r}, expected {want!r}' for k, (want, got) in wrong.items()) + '.')
  return traverse_util.unflatten_dict(flat, sep='/'), meta
