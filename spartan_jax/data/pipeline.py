"""Tokenisation and padded, length-bucketed numpy batches.

A batch is a dict of numpy arrays with a fixed batch size B:
  input_ids, attention_mask, token_type_ids: int32 [B, L]
  label: int32 [B] (float32 for regression)
  mask: float32 [B], 1 for real rows, 0 for rows padding a partial batch
  idx: int32 [B], the example's `idx` (-1 on padding rows)
L is the smallest bucket that holds the batch's longest sequence, so only
`len(buckets)` shapes reach the compiler.
"""

from collections.abc import Iterator, Sequence
import dataclasses

import numpy as np

from spartan_jax.data import sources
from spartan_jax.data import tasks as tasks_lib

BUCKETS = (32, 64, 128)


@dataclasses.dataclass(frozen=True)
class Encoded:
  """Tokenised examples (unpadded) and what batching needs."""
  input_ids: list[np.ndarray]
  token_type_ids: list[np.ndarray]
  label: np.ndarray
  idx: np.ndarray
  pad_id: int
  buckets: tuple[int, ...]

  def __len__(self) -> int:
    return len(self.label)


def encode(task: str | tasks_lib.Task, examples: Sequence[sources.Example],
           tokenizer, max_length: int,
           buckets: Sequence[int] = BUCKETS) -> Encoded:
  """Tokenises examples (pairs truncated 'longest_first' to `max_length`).

  Args:
    task: a task name or `Task` (label range and dtype).
    examples: example dicts from `sources`.
    tokenizer: a transformers tokenizer.
    max_length: the longest sequence, special tokens included.
    buckets: padded lengths; capped at `max_length`, which is always one.
  """
  task = task if isinstance(task, tasks_lib.Task) else tasks_lib.get_task(task)
  if not examples:
    raise ValueError(f'{task.name}: no examples to encode.')
  if tokenizer.pad_token_id is None:
    raise ValueError('The tokenizer has no pad token.')
  pairs = task.text_fields[1] is not None
  enc = tokenizer([e['text_a'] for e in examples],
                  [e['text_b'] for e in examples] if pairs else None,
                  truncation='longest_first', max_length=max_length)
  input_ids = [np.asarray(ids, np.int32) for ids in enc['input_ids']]
  token_type_ids = [np.asarray(t, np.int32) for t in enc['token_type_ids']] \
      if 'token_type_ids' in enc else [np.zeros_like(i) for i in input_ids]
  labels = np.asarray([e['label'] for e in examples])
  if task.is_regression:
    labels = labels.astype(np.float32)
  else:
    bad = np.flatnonzero((labels != labels.astype(int)) | (labels < 0)
                         | (labels >= task.num_labels))
    if bad.size:
      e = examples[bad[0]]
      raise ValueError(f'{task.name}: example idx={e["idx"]} has label '
                       f'{e["label"]!r}, outside 0..{task.num_labels - 1}.')
    labels = labels.astype(np.int32)
  return Encoded(
      input_ids=input_ids, token_type_ids=token_type_ids, label=labels,
      idx=np.asarray([e['idx'] for e in examples], np.int32),
      pad_id=tokenizer.pad_token_id,
      buckets=tuple(sorted({min(b, max_length) for b in buckets}
                           | {max_length})))


def train_batches(encoded: Encoded, batch_size: int, seed: int,
                  epoch: int) -> Iterator[dict[str, np.ndarray]]:
  """One epoch in an order fixed by (seed, epoch); all rows, none dropped."""
  order = np.random.default_rng((seed, epoch)).permutation(len(encoded))
  return _batches(encoded, order, batch_size)


def eval_batches(encoded: Encoded, batch_size: int,
                 sort_by_length: bool = True) -> Iterator[dict[str, np.ndarray]]:
  """All rows once; sorted by length to cut padding (`idx` maps back)."""
  order = np.arange(len(encoded))
  if sort_by_length:
    order = np.argsort([len(i) for i in encoded.input_ids], kind='stable')
  return _batches(encoded, order, batch_size)


def _batches(encoded, order, batch_size):
  for start in range(0, len(order), batch_size):
    yield _batch(encoded, order[start:start + batch_size], batch_size)


def _batch(encoded, rows, batch_size):
  longest = max(len(encoded.input_ids[i]) for i in rows)
  length = next(b for b in encoded.buckets if b >= longest)
  batch = {
      'input_ids': np.full((batch_size, length), encoded.pad_id, np.int32),
      'attention_mask': np.zeros((batch_size, length), np.int32),
      'token_type_ids': np.zeros((batch_size, length), np.int32),
      'label': np.zeros(batch_size, encoded.label.dtype),
      'mask': np.zeros(batch_size, np.float32),
      'idx': np.full(batch_size, -1, np.int32),
  }
  for j, i in enumerate(rows):
    n = len(encoded.input_ids[i])
    batch['input_ids'][j, :n] = encoded.input_ids[i]
    batch['token_type_ids'][j, :n] = encoded.token_type_ids[i]
    batch['attention_mask'][j, :n] = 1
  batch['label'][:len(rows)] = encoded.label[rows]
  batch['mask'][:len(rows)] = 1
  batch['idx'][:len(rows)] = encoded.idx[rows]
  return batch
