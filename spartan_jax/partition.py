"""Which parameters train: labels from ordered (regex, label) rules, and the trainable subtree.

Paths are '/'-joined (e.g. 'encoder/layer_3/attention/query/kernel'); the first matching rule wins
and every parameter must match one. The trainable subtree is what a per-task checkpoint stores.
"""

import logging
import re
from collections.abc import Sequence

import jax
import numpy as np
from flax import traverse_util

LABELS = ('trainable', 'frozen')


def param_labels(params, rules: Sequence[tuple[str, str]]):
  """A pytree like `params` (arrays or ShapeDtypeStructs) holding each leaf's label."""
  bad = [label for _, label in rules if label not in LABELS]
  if bad:
    raise ValueError(f'Rule labels {bad} are unknown; use {LABELS}.')
  compiled = [(re.compile(pattern), label) for pattern, label in rules]

  def label_of(path):
    for pattern, label in compiled:
      if pattern.search(path):
        return label
    raise ValueError(f'Parameter {path!r} matches no freeze rule; add a rule for it (rules: {list(rules)}).')

  flat = traverse_util.flatten_dict(params, sep='/')
  labels = traverse_util.unflatten_dict({path: label_of(path) for path in flat}, sep='/')
  counts = count_params(params, labels)
  logging.info('Parameters: %s trainable, %s frozen.', f"{counts['trainable']:,}", f"{counts['frozen']:,}")
  return labels


def count_params(params, labels) -> dict[str, int]:
  counts = dict.fromkeys(LABELS, 0)
  for leaf, label in zip(jax.tree.leaves(params), jax.tree.leaves(labels)):
    counts[label] += int(np.prod(leaf.shape))
  return counts


def trainable_subtree(params, labels) -> dict:
  """The nested dict of trainable leaves only."""
  flat, flat_labels = (traverse_util.flatten_dict(t, sep='/') for t in (params, labels))
  return traverse_util.unflatten_dict({p: v for p, v in flat.items() if flat_labels[p] == 'trainable'}, sep='/')


def merge_trainable(params, trainable) -> dict:
  """`params` with the leaves of `trainable` (same paths and shapes) put in."""
  flat = traverse_util.flatten_dict(params, sep='/')
  for path, value in traverse_util.flatten_dict(trainable, sep='/').items():
    if path not in flat:
      raise ValueError(f'Trainable parameter {path!r} is not in the model; was it saved with another method?')
    if value.shape != flat[path].shape:
      raise ValueError(f'Trainable parameter {path!r} has shape {value.shape}, the model {flat[path].shape}.')
    flat[path] = value
  return traverse_util.unflatten_dict(flat, sep='/')
