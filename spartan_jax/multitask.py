"""Many tasks, one backbone: N task deltas stacked, and a batch in which each example names its task.

`stack(runs)` keeps one copy of the frozen backbone and stacks every trainable leaf of the N runs
(memories, heads, LayerNorms, adapters, LoRA factors, biases: whatever the method trains) along a new
leading task axis. `make_logits_fn(stacked)` gives logits(input_ids, attention_mask, token_type_ids,
task_ids): each example gathers its task's leaves and runs the single-task model on them (`jax.vmap`
over examples; the backbone's matrices stay shared, so its matmuls are still one per batch). Where the
method trains LayerNorms (SPARTAN, Houlsby, Pfeiffer), each example is normalised with its own task's
scale and bias, so every row equals its task run alone. Heads of fewer classes are zero-padded to the
widest: row b's logits are `logits[b, :num_labels[task_ids[b]]]`. LoRA stays unmerged (a merged kernel
would be a per-task copy of the backbone's matrix).
"""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
from flax import traverse_util

from spartan_jax import partition
from spartan_jax.models import model as model_lib
from spartan_jax.models import peft


@dataclasses.dataclass(frozen=True)
class Stacked:
  """One backbone plus N tasks' trainable leaves stacked on axis 0."""
  model: model_lib.SequenceClassifier  # Built with the widest head.
  shared: dict  # Frozen params (the backbone), one copy.
  tasks: dict  # Trainable params, each leaf [N, ...].
  num_labels: tuple[int, ...]
  task_names: tuple[str, ...]


def _pad_last(x: np.ndarray, width: int) -> np.ndarray:
  return np.pad(x, [(0, 0)] * (x.ndim - 1) + [(0, width - x.shape[-1])])


def stack_params(model: model_lib.SequenceClassifier, method: str, params_list: list[dict],
                 names: list[str] | None = None) -> Stacked:
  """Stacks N param trees of `model`'s architecture (heads may differ in width) for one backbone."""
  names = names or [f'task {i}' for i in range(len(params_list))]
  if method == 'full':
    raise ValueError('method=full trains the whole backbone: its tasks share nothing to stack; '
                     'serve them as separate models.')
  widths = [p['head'][_head_output(model)]['bias'].shape[-1] for p in params_list]
  wide = model.clone(num_labels=max(widths))
  rules = peft.trainable_rules(method, model.memory)
  labels = partition.param_labels(params_list[0], rules)
  flats = [traverse_util.flatten_dict(p, sep='/') for p in params_list]
  flat_labels = traverse_util.flatten_dict(labels, sep='/')
  shared = {}
  for path, label in flat_labels.items():
    if label == 'frozen':
      for name, flat in zip(names[1:], flats[1:]):
        if not np.array_equal(flat[path], flats[0][path]):
          raise ValueError(f'{name} has another frozen {path} than {names[0]}: the runs do not share one '
                           'backbone; stack only runs of the same pretrained checkpoint and method.')
      shared[path] = flats[0][path]
  trainable = [traverse_util.flatten_dict(partition.trainable_subtree(p, labels), sep='/') for p in params_list]
  wide_shapes = traverse_util.flatten_dict(
      jax.eval_shape(lambda: model_lib.init_params(wide, jax.random.key(0))), sep='/')
  stacked = {path: np.stack([_pad_last(np.asarray(t[path]), wide_shapes[path].shape[-1]) for t in trainable])
             for path in trainable[0]}
  return Stacked(model=wide, shared=traverse_util.unflatten_dict(shared, sep='/'),
                 tasks=traverse_util.unflatten_dict(stacked, sep='/'), num_labels=tuple(widths),
                 task_names=tuple(names))


def stack(runs) -> Stacked:
  """Stacks `inference.Run`s of one backbone and method."""
  key = lambda r: (r.backbone, r.method, r.model.config, r.model.memory, r.model.adapter, r.model.lora)
  bad = [r.workdir for r in runs if key(r) != key(runs[0])]
  if bad:
    raise ValueError(f'{bad} differ from {runs[0].workdir} in backbone, method or method settings '
                     f'({runs[0].backbone}, {runs[0].method}): stack runs that differ only in their task.')
  return stack_params(runs[0].model, runs[0].method, [r.params for r in runs], [r.workdir for r in runs])


def _head_output(model) -> str:
  return 'out_proj' if model.pooling == 'cls' else 'classifier'


def make_logits_fn(stacked: Stacked):
  """logits(input_ids, attention_mask, token_type_ids [B, T], task_ids [B]) -> [B, max num_labels]."""

  shared = traverse_util.flatten_dict(stacked.shared, sep='/')

  def one(own, ids, mask, types):
    params = traverse_util.unflatten_dict({**shared, **traverse_util.flatten_dict(own, sep='/')}, sep='/')
    return stacked.model.apply({'params': params}, ids[None], mask[None], types[None])['logits'][0]

  def logits(input_ids, attention_mask, token_type_ids, task_ids):
    own = jax.tree.map(lambda leaf: jnp.take(leaf, task_ids, axis=0), stacked.tasks)
    return jax.vmap(one)(own, input_ids, attention_mask, token_type_ids)

  return logits


def nbytes(tree) -> int:
  return sum(int(np.prod(x.shape)) * np.dtype(x.dtype).itemsize for x in jax.tree.leaves(tree))


def memory_report(stacked: Stacked) -> dict:
  """Bytes held: one backbone + N deltas, against N full models (float32)."""
  backbone, deltas = nbytes(stacked.shared), nbytes(stacked.tasks)
  n = len(stacked.num_labels)
  return {'tasks': n, 'backbone_bytes': backbone, 'deltas_bytes': deltas, 'shared_bytes': backbone + deltas,
          'separate_bytes': n * backbone + deltas, 'ratio': (backbone + deltas) / (n * backbone + deltas)}
