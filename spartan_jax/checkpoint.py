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
  restored = manager.restore(step, args=ocp.args.Composite(
      state=ocp.args.StandardRestore(abstract), meta=ocp.args.JsonRestore()))
  item = restored['state']
  params = partition.merge_trainable(state.params, item['trainable'])
  return state.replace(step=item['step'], params=params, opt_state=item['opt_state']), restored['meta']


def save_delta(path: str, trainable: dict, meta: dict) -> int:
  """Writes the trainable subtree (float32) and its meta atomically; returns the file's bytes."""
  flat = {k: np.asarray(v, np.float32) for k, v in traverse_util.flatten_dict(trainable, sep='/').items()}
  tmp = f'{path}.tmp'
  save_file(flat, tmp, metadata={'meta': json.dumps(meta, sort_keys=True)})
  os.replace(tmp, path)
  return os.path.getsize(path)


def load_delta(path: str) -> tuple[dict, dict]:
  """(trainable subtree, meta) from `save_delta`; merge with `partition.merge_trainable`."""
  from safetensors import safe_open  # pylint: disable=import-outside-toplevel
  with safe_open(path, 'np') as f:
    meta = json.loads(f.metadata()['meta'])
  return traverse_util.unflatten_dict(load_file(path), sep='/'), meta
