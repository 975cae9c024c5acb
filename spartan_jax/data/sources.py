"""Labelled examples from TFDS `glue/<task>` or from GLUE TSV files.

Both sources give the same list of examples for a split:

  {'idx': int, 'text_a': str, 'text_b': str | None, 'label': int | float}

`idx` is the row's position in the split (0, 1, ...; the TSV data-row order,
which is TFDS's `idx` order). Class labels are ids in the task's
`label_names` order; regression labels are float32 values as Python floats.
"""

import csv
import os
import socket
import urllib.parse
from typing import TypedDict

import numpy as np

from spartan_jax.data import tasks as tasks_lib


class Example(TypedDict):
  idx: int
  text_a: str
  text_b: str | None
  label: int | float


def load_examples(task: str | tasks_lib.Task, split: str, source: str = 'tfds',
                  *, glue_dir: str | None = None,
                  tfds_data_dir: str | None = None) -> list[Example]:
  """Returns the examples of a labelled split ('train' or an eval split).

  Args:
    task: a task name or `Task`.
    split: 'train' or one of `task.eval_splits`.
    source: 'tfds' or 'tsv'.
    glue_dir: TSV root (see `tsv_path`); only for source='tsv'.
    tfds_data_dir: TFDS data_dir; only for source='tfds'.
  """
  if source == 'tfds':
    return read_tfds(task, split, tfds_data_dir)
  if source == 'tsv':
    return read_tsv(task, split, glue_dir)
  raise ValueError(f"Unknown source {source!r}; use 'tfds' or 'tsv'.")


def resolve_glue_dir(value: str | None = None) -> str | None:
  """The GLUE TSV folder: `value` (a config field or flag) if set, else $GLUE_DIR, else None."""
  return value or os.environ.get('GLUE_DIR') or None


def tsv_path(task: str | tasks_lib.Task, split: str,
             glue_dir: str | None = None) -> str:
  """Path of a split's TSV file: `<glue_dir or $GLUE_DIR>/<TASK>/<file>`."""
  task = _check_split(task, split)
  glue_dir = resolve_glue_dir(glue_dir)
  if not glue_dir:
    raise ValueError('No GLUE TSV folder: set --config.data.glue_dir or the '
                     'GLUE_DIR environment variable.')
  path = os.path.join(glue_dir, task.tsv.dirname, task.tsv.files[split])
  if not os.path.isfile(path):
    raise FileNotFoundError(
        f'{path} not found: --config.data.glue_dir (or GLUE_DIR) must be a '
        f'folder in the GLUE layout, holding {task.tsv.dirname}/'
        f'{task.tsv.files[split]}.')
  return path


def read_tsv(task: str | tasks_lib.Task, split: str,
             glue_dir: str | None = None) -> list[Example]:
  """Reads a split from its TSV file (UTF-8, optional BOM, no quoting)."""
  task = _check_split(task, split)
  path = tsv_path(task, split, glue_dir)
  layout = task.tsv
  examples = []
  with open(path, encoding='utf-8-sig', newline='') as f:
    rows = csv.reader(f, delimiter='\t', quotechar=None)
    if layout.header:
      header = next(rows, [])
      missing = [c for c in layout.columns if c is not None and c not in header]
      if missing:
        raise ValueError(f'{path}: header {header} lacks columns {missing}.')
      a, b, y = (None if c is None else header.index(c) for c in layout.columns)
      ok = lambda row: len(row) == len(header)
      want = f'{len(header)} columns'
    else:
      a, b, y = layout.columns
      ok = lambda row: len(row) > max(a, y, b or 0)
      want = f'more than {max(a, y, b or 0)} columns'
    for row in rows:
      where = f'{path}:{rows.line_num}'
      if not ok(row):
        raise ValueError(f'{where}: malformed row, expected {want}, '
                         f'got {len(row)}: {row!r:.200}')
      examples.append(Example(
          idx=len(examples), text_a=row[a],
          text_b=None if b is None else row[b],
          label=_parse_label(task, row[y], where)))
  if not examples:
    raise ValueError(f'{path}: split {split!r} has no examples.')
  return examples


def read_tfds(task: str | tasks_lib.Task, split: str,
              data_dir: str | None = None) -> list[Example]:
  """Reads a split of TFDS `glue/<task>`, in `idx` order.

  Uses `tfds.data_source` (array_record, no TensorFlow). A dataset prepared
  as tfrecord falls back to `tfds.load`, which needs TensorFlow. TFDS's MRPC
  `idx` counts rows of the unsplit MRPC file, so `idx` is renumbered to the
  position in the split.
  """
  task = _check_split(task, split)
  if task.tfds_name is None:
    raise ValueError(f"{task.name} has no TFDS copy; use source='tsv'.")
  import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top
  # Registers glue/*: without TensorFlow, tfds does not import it by itself.
  from tensorflow_datasets.text import glue  # pylint: disable=g-import-not-at-top,unused-import
  check_downloadable(tfds.builder(task.tfds_name, data_dir=data_dir))
  try:
    records = tfds.data_source(task.tfds_name, split=split, data_dir=data_dir)
  except NotImplementedError:  # Not array_record: only tfds.load reads it.
    records = _tfds_load(task.tfds_name, split, data_dir)
  except OSError as e:  # requests' ConnectionError is an OSError.
    raise RuntimeError(
        f'TFDS could not download or read {task.tfds_name} ({e.__class__.__name__}); without network, '
        'read the GLUE TSV files instead: --config.data.glue_dir=DIR or $GLUE_DIR.') from e
  records = sorted(records, key=lambda r: int(r['idx']))
  a, b = task.text_fields
  examples = [
      Example(idx=i, text_a=_text(r[a]),
              text_b=None if b is None else _text(r[b]),
              label=_check_label(task, r['label'], f'{task.tfds_name}[{split}]'
                                 f' idx={int(r["idx"])}'))
      for i, r in enumerate(records)]
  if not examples:
    raise ValueError(f'{task.tfds_name}: split {split!r} has no examples.')
  return examples


def check_downloadable(builder, timeout: float = 5.0) -> None:
  """Fails within `timeout` seconds when `builder` is not prepared and its download host is unreachable.

  TFDS itself retries an unreachable download for minutes.
  """
  if builder.is_prepared():
    return
  url = getattr(builder.builder_config, 'data_url', None)
  host = urllib.parse.urlparse(url).hostname if isinstance(url, str) else None
  if host is None:
    return
  try:
    socket.create_connection((host, 443), timeout=timeout).close()
  except OSError as e:
    raise ConnectionError(
        f'{builder.name}/{builder.builder_config.name} is not prepared in {builder.data_dir} and {host} is '
        f'unreachable ({e}). Offline, read '
        'the GLUE TSV files: --config.data.glue_dir=DIR (or $GLUE_DIR); or point --config.data.tfds_data_dir at '
        'a folder where it was prepared.') from None


def _tfds_load(name, split, data_dir):
  import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top
  try:
    import tensorflow  # pylint: disable=g-import-not-at-top,unused-import
  except ImportError:
    raise RuntimeError(
        f'{name} is not stored as array_record (data_dir={data_dir}), so only '
        'tfds.load can read it, and that needs TensorFlow, which is not '
        'installed. Install tensorflow, prepare the dataset with '
        "file_format='array_record', or read the GLUE TSV files with "
        "source='tsv'.") from None
  return list(tfds.as_numpy(tfds.load(name, split=split, data_dir=data_dir)))


def _check_split(task, split):
  task = task if isinstance(task, tasks_lib.Task) else tasks_lib.get_task(task)
  if split not in task.splits:
    raise ValueError(f'{task.name} has labelled splits {task.splits}; '
                     f'got {split!r}.')
  return task


def _parse_label(task, text, where):
  """Parses a TSV label cell per `task.tsv.labels`."""
  kind = task.tsv.labels
  try:
    if kind == 'float':
      return float(np.float32(text))
    if kind == 'name':
      return task.label_names.index(text)
    if 0 <= int(text) < task.num_labels:
      return int(text)
  except ValueError:
    pass
  allowed = {'float': 'a number', 'name': task.label_names,
             'index': f'0..{task.num_labels - 1}'}[kind]
  raise ValueError(f"{where}: label {text!r} is not in {task.name}'s label "
                   f'set ({allowed}).')


def _check_label(task, label, where):
  if task.is_regression:
    return float(label)
  if not 0 <= int(label) < task.num_labels:
    raise ValueError(f'{where}: label {label} is not a class id of '
                     f'{task.name} (0..{task.num_labels - 1}).')
  return int(label)


def _text(value):
  return value.decode('utf-8') if isinstance(value, bytes) else str(value)
