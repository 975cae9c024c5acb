"""Train/dev/test splits: LM-BFF k-shot, the first N examples, or full data.

Protocols of `make_splits`:
  'lmbff': LM-BFF's sampling (Gao et al., 2021, princeton-nlp/LM-BFF
    tools/generate_k_shot_data.py): seed numpy's legacy RNG, shuffle the train
    rows, group them by label in first-seen order (STS-B: score < 2.5 vs
    >= 2.5), train = the first k of each group, dev = the next k (fewer if
    the group is short). CoLA's shuffles compound across seeds, as in LM-BFF.
  'first_n': the SPARTAN paper's low-resource setting: train = the first k
    training rows; no dev split.
  'full': all training rows but a seeded held-out dev of min(1000, 10%).
The test splits are always the task's original validation split(s).

Run as a script to write LM-BFF's split files, byte for byte:

  python -m spartan_jax.data.kshot --glue_dir=$GLUE_DIR --output_dir=k-shot \
      --tasks cola rte --k 16 --seeds 13 21 42 87 100
"""

import argparse
from collections.abc import Mapping, Sequence
import os
import shutil

import numpy as np

from spartan_jax.data import sources
from spartan_jax.data import tasks as tasks_lib

SEEDS = (13, 21, 42, 87, 100)
LMBFF_RUN_ORDER = (100, 13, 21, 42, 87)  # LM-BFF's default --seed order.
PROTOCOLS = ('lmbff', 'first_n', 'full')
LMBFF_TASKS = ('sst2', 'cola', 'mrpc', 'qqp', 'stsb', 'mnli', 'qnli', 'rte')


def lmbff_sample(task: tasks_lib.Task, labels: Sequence[int | float], k: int,
                 seed: int) -> tuple[list[int], list[int]]:
  """Positions of LM-BFF's k-shot train and dev rows among file-order rows.

  Args:
    task: the task (for the STS-B grouping and error messages).
    labels: labels of the whole train split, in file order.
    k: rows per label group.
    seed: LM-BFF seed.
  Returns:
    (train, dev) positions into `labels`, in LM-BFF's file order.
  """
  order = _lmbff_order(task, len(labels), seed)
  groups = {}
  for i in order:
    key = bool(labels[i] >= 2.5) if task.is_regression else labels[i]
    groups.setdefault(key, []).append(int(i))
  for key, rows in groups.items():
    if len(rows) < k:
      name = (('score < 2.5', 'score >= 2.5')[key] if task.is_regression
              else task.label_names[key])
      raise ValueError(f'{task.name}: k={k} but class {name!r} has only '
                       f'{len(rows)} training examples.')
  train = [i for rows in groups.values() for i in rows[:k]]
  dev = [i for rows in groups.values() for i in rows[k:2 * k]]
  return train, dev


def _lmbff_order(task, n, seed):
  """LM-BFF's shuffled row order for `seed`.

  LM-BFF shuffles a copy of the rows after the header, but CoLA's headerless
  row list in place: there each seed shuffles the previous seed's order, in
  LM-BFF's run order (100, 13, 21, 42, 87). Its published CoLA files need
  this; other CoLA seeds are shuffled as if run alone.
  """
  chain = [seed]
  if not task.tsv.header and seed in LMBFF_RUN_ORDER:
    chain = LMBFF_RUN_ORDER[:LMBFF_RUN_ORDER.index(seed) + 1]
  order = np.arange(n)
  for s in chain:
    # Same swaps as np.random.seed(s); np.random.shuffle(rows).
    np.random.RandomState(s).shuffle(order)
  return order


def make_splits(task: str | tasks_lib.Task,
                train_examples: Sequence[sources.Example],
                eval_examples: Mapping[str, Sequence[sources.Example]],
                protocol: str, k: int | None = None,
                seed: int | None = None) -> dict:
  """Splits examples from `sources` by `protocol`.

  Args:
    task: a task name or `Task`.
    train_examples: the whole train split (any order; sorted by idx here).
    eval_examples: `{eval split: examples}`, e.g. `{'validation': [...]}`.
    protocol: 'lmbff', 'first_n' or 'full'.
    k: rows per class ('lmbff') or in total ('first_n'); None for 'full'.
    seed: sampling seed ('lmbff', 'full'); 'first_n' ignores it.
  Returns:
    `{'train': [...], 'dev': [...], 'test': {eval split: [...]}}`, lists of
    example dicts. 'lmbff' gives the rows of LM-BFF's files in their order.
  """
  task = task if isinstance(task, tasks_lib.Task) else tasks_lib.get_task(task)
  _check_args(protocol, k, seed)
  train = sorted(train_examples, key=lambda e: e['idx'])
  if protocol == 'lmbff':
    if [e['idx'] for e in train] != list(range(len(train))):
      raise ValueError("'lmbff' samples from the whole train split: idx must "
                       f'run 0..{len(train) - 1} without gaps.')
    rows, dev_rows = lmbff_sample(task, [e['label'] for e in train], k, seed)
    train, dev = [train[i] for i in rows], [train[i] for i in dev_rows]
  elif protocol == 'first_n':
    if k > len(train):
      raise ValueError(f'{task.name}: k={k} but train has only {len(train)} '
                       'examples.')
    train, dev = train[:k], []
  else:
    perm = np.random.RandomState(seed).permutation(len(train))
    n_dev = min(1000, len(train) // 10)
    dev = [train[i] for i in sorted(perm[:n_dev])]
    train = [train[i] for i in sorted(perm[n_dev:])]
  return {'train': train, 'dev': dev,
          'test': {name: list(ex) for name, ex in eval_examples.items()}}


def write_lmbff(task: str | tasks_lib.Task, glue_dir: str, output_dir: str,
                k: int, seed: int) -> str:
  """Writes `<output_dir>/<TASK>/<k>-<seed>/` as LM-BFF does; returns it.

  train.tsv and dev.tsv (MNLI: dev_matched.tsv) hold the header and the
  sampled lines exactly as read; test*.tsv are copies of the dev file(s).
  """
  task = task if isinstance(task, tasks_lib.Task) else tasks_lib.get_task(task)
  if task.name not in tasks_lib.GLUE_TASKS:
    raise ValueError(f'LM-BFF files exist only for GLUE tasks, not {task.name}.')
  path = sources.tsv_path(task, 'train', glue_dir)
  with open(path, 'rb') as f:
    lines = f.readlines()
  header, lines = (lines[:1], lines[1:]) if task.tsv.header else ([], lines)
  labels = [e['label'] for e in sources.read_tsv(task, 'train', glue_dir)]
  if len(labels) != len(lines):
    raise ValueError(f'{path}: {len(lines)} lines hold {len(labels)} rows; '
                     'LM-BFF needs one row per line.')
  rows, dev_rows = lmbff_sample(task, labels, k, seed)
  out = os.path.join(output_dir, task.tsv.dirname, f'{k}-{seed}')
  os.makedirs(out, exist_ok=True)
  dev_name = task.tsv.files[task.eval_splits[0]]  # dev.tsv or dev_matched.tsv
  for name, picked in (('train.tsv', rows), (dev_name, dev_rows)):
    with open(os.path.join(out, name), 'wb') as f:
      f.writelines(header + [lines[i] for i in picked])
  for split in task.eval_splits:
    shutil.copyfile(sources.tsv_path(task, split, glue_dir), os.path.join(
        out, task.tsv.files[split].replace('dev', 'test')))
  return out


def _check_args(protocol, k, seed):
  if protocol not in PROTOCOLS:
    raise ValueError(f'Unknown protocol {protocol!r}; use one of {PROTOCOLS}.')
  if protocol == 'full':
    if k is not None:
      raise ValueError(f"'full' uses all data; got k={k}, want k=None.")
  elif k is None or k < 1:
    raise ValueError(f'{protocol!r} needs a positive k; got {k}.')
  if protocol != 'first_n' and seed is None:
    raise ValueError(f'{protocol!r} needs a seed.')


def main(argv: Sequence[str] | None = None) -> None:
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--glue_dir', default=sources.resolve_glue_dir(),
                      help='GLUE TSV folder (default: $GLUE_DIR).')
  parser.add_argument('--output_dir', required=True)
  parser.add_argument('--tasks', nargs='+', default=LMBFF_TASKS,
                      choices=tasks_lib.GLUE_TASKS)
  parser.add_argument('--k', type=int, default=16)
  parser.add_argument('--seeds', type=int, nargs='+', default=SEEDS)
  args = parser.parse_args(argv)
  for task in args.tasks:
    for seed in args.seeds:
      print(write_lmbff(task, args.glue_dir, args.output_dir, args.k, seed))


if __name__ == '__main__':
  main()
