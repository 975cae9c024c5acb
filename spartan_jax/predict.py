r"""Classifies new text with a trained run, or writes its GLUE test submission file.

  # One example per line ('-' reads stdin); for pair tasks the two texts are separated by a tab.
  python -m spartan_jax.predict --workdir=workdirs/demo --input=sentences.txt --output=-
  # TSV with a header naming the task's text columns (e.g. `sentence`, or `sentence1` `sentence2`), or
  # JSON lines with those keys; --output ending in .jsonl writes JSON lines, else TSV.
  python -m spartan_jax.predict --workdir=W --input=new.tsv --output=predictions.tsv
  # GLUE test split -> DIR/<TASK>.tsv (MNLI: MNLI-m.tsv, MNLI-mm.tsv and AX.tsv), from TSVs or TFDS.
  python -m spartan_jax.predict --workdir=W --glue_test --glue_dir=../shared/data/glue --output=DIR

Output columns: `index` (input row), `label` (the class name, or the value for regression) and `score`
(its probability); JSON lines add every class's probability.
"""

import csv
import json
import os
import sys

from absl import app
from absl import flags
import jax
import numpy as np

from spartan_jax import inference
from spartan_jax.data import sources
from spartan_jax.data import tasks as tasks_lib

FLAGS = flags.FLAGS

# GLUE test splits: (TFDS name, split, file under the GLUE TSV root, submission name). AX, GLUE's
# diagnostic set, is scored with the MNLI model.
GLUE_TEST = {
    'cola': [('glue/cola', 'test', 'CoLA/test.tsv', 'CoLA')],
    'sst2': [('glue/sst2', 'test', 'SST-2/test.tsv', 'SST-2')],
    'mrpc': [('glue/mrpc', 'test', 'MRPC/test.tsv', 'MRPC')],
    'stsb': [('glue/stsb', 'test', 'STS-B/test.tsv', 'STS-B')],
    'qqp': [('glue/qqp', 'test', 'QQP/test.tsv', 'QQP')],
    'mnli': [('glue/mnli', 'test_matched', 'MNLI/test_matched.tsv', 'MNLI-m'),
             ('glue/mnli', 'test_mismatched', 'MNLI/test_mismatched.tsv', 'MNLI-mm'),
             ('glue/ax', 'test', 'diagnostic/diagnostic.tsv', 'AX')],
    'qnli': [('glue/qnli', 'test', 'QNLI/test.tsv', 'QNLI')],
    'rte': [('glue/rte', 'test', 'RTE/test.tsv', 'RTE')],
    'wnli': [('glue/wnli', 'test', 'WNLI/test.tsv', 'WNLI')],
}


def column_names(task: tasks_lib.Task, slot: int) -> tuple[str, ...]:
  """Accepted header names of text slot 0 or 1: the TFDS field, the GLUE TSV column, text_a/text_b."""
  names = [task.text_fields[slot], ('text_a', 'text_b')[slot]]
  tsv_column = task.tsv.columns[slot]
  if isinstance(tsv_column, str):
    names.insert(1, tsv_column)
  return tuple(names)


def _slots(task):
  return (0, 1) if task.text_fields[1] is not None else (0,)


def _pick(task, row: dict, where: str) -> tuple[str, str | None]:
  texts = []
  for slot in _slots(task):
    name = next((n for n in column_names(task, slot) if n in row), None)
    if name is None:
      raise ValueError(f'{where}: no text column for {task.name}; name it one of {column_names(task, slot)}.')
    texts.append(str(row[name]))
  return texts[0], texts[1] if len(texts) > 1 else None


def read_examples(task: tasks_lib.Task, path: str) -> tuple[list, list[tuple[str, str | None]]]:
  """(index per row, (text_a, text_b) per row) from a TSV, JSON lines or text lines (`-`: stdin)."""
  f = sys.stdin if path == '-' else open(path, encoding='utf-8-sig', newline='')
  try:
    if path.endswith('.jsonl'):
      rows = [json.loads(line) for line in f if line.strip()]
      texts = [_pick(task, row, f'{path}:{i + 1}') for i, row in enumerate(rows)]
      return [row.get('index', row.get('idx', i)) for i, row in enumerate(rows)], texts
    if path.endswith('.tsv'):
      rows = list(csv.DictReader(f, delimiter='\t', quoting=csv.QUOTE_NONE))
      texts = [_pick(task, row, f'{path}:{i + 2}') for i, row in enumerate(rows)]
      return [row.get('index', i) for i, row in enumerate(rows)], texts
    texts = []
    for i, line in enumerate(f):
      parts = line.rstrip('\r\n').split('\t')
      if len(parts) != len(_slots(task)):
        raise ValueError(f'{path}:{i + 1}: {task.name} needs {len(_slots(task))} tab-separated text(s) per line, '
                         f'got {len(parts)}.')
      texts.append((parts[0], parts[1] if len(parts) > 1 else None))
    return list(range(len(texts))), texts
  finally:
    if f is not sys.stdin:
      f.close()


def write_predictions(task: tasks_lib.Task, index, logits: np.ndarray, path: str) -> None:
  labels, scores = inference.labels_and_scores(task, logits)
  f = sys.stdout if path == '-' else open(path, 'w', encoding='utf-8', newline='')
  try:
    if path.endswith('.jsonl'):
      probs = None if task.is_regression else np.asarray(jax.nn.softmax(logits, axis=-1))
      for j, (i, label, score) in enumerate(zip(index, labels, scores)):
        record = {'index': i, 'label': label, 'score': float(score)}
        if probs is not None:
          record['probabilities'] = dict(zip(task.label_names, probs[j].tolist()))
        f.write(json.dumps(record) + '\n')
    else:
      f.write('index\tlabel\tscore\n')
      for i, label, score in zip(index, labels, scores):
        f.write(f'{i}\t{label}\t{score:.6f}\n')
  finally:
    if f is not sys.stdout:
      f.close()


def read_glue_test(task: tasks_lib.Task, tfds_name: str, split: str, tsv_file: str, glue_dir: str | None):
  """(index, texts) of a GLUE test split: from `glue_dir`/`tsv_file` if given, else from TFDS."""
  if glue_dir:
    path = os.path.join(glue_dir, tsv_file)
    if not os.path.isfile(path):
      raise FileNotFoundError(f'{path} not found: --glue_dir must hold the GLUE test files ({tsv_file}); '
                              'leave it and $GLUE_DIR unset to read TFDS instead.')
    return read_examples(task, path)
  import tensorflow_datasets as tfds  # pylint: disable=import-outside-toplevel
  from tensorflow_datasets.text import glue  # pylint: disable=import-outside-toplevel,unused-import
  records = sorted(tfds.data_source(tfds_name, split=split), key=lambda r: int(r['idx']))
  text = lambda v: v.decode('utf-8') if isinstance(v, bytes) else str(v)
  a, b = task.text_fields
  return ([int(r['idx']) for r in records],
          [(text(r[a]), None if b is None else text(r[b])) for r in records])


def glue_prediction(task: tasks_lib.Task, logits: np.ndarray) -> list[str]:
  """Predictions as the GLUE server reads them: the labels' form in the task's GLUE TSVs."""
  if task.is_regression:
    return [f'{v:.3f}' for v in logits[:, 0]]
  best = logits.argmax(-1)
  return [task.label_names[i] if task.tsv.labels == 'name' else str(i) for i in best]


def write_glue_test(run: inference.Run, out_dir: str, glue_dir: str | None, batch_size: int) -> list[str]:
  """Writes `out_dir`/<NAME>.tsv for each GLUE test split of the run's task; returns the paths."""
  if run.task.name not in GLUE_TEST:
    raise ValueError(f'{run.task.name} is not a GLUE task; --glue_test needs one of {sorted(GLUE_TEST)}.')
  os.makedirs(out_dir, exist_ok=True)
  paths = []
  for tfds_name, split, tsv_file, name in GLUE_TEST[run.task.name]:
    index, texts = read_glue_test(run.task, tfds_name, split, tsv_file, glue_dir)
    predictions = glue_prediction(run.task, inference.logits_of(run, texts, batch_size))
    path = os.path.join(out_dir, f'{name}.tsv')
    with open(path, 'w', encoding='utf-8', newline='') as f:
      f.write('index\tprediction\n')
      f.writelines(f'{i}\t{p}\n' for i, p in zip(index, predictions))
    paths.append(path)
  return paths


def define_flags():
  """The command line's flags (defined only when run as a program, so the library imports cleanly)."""
  flags.DEFINE_string('workdir', None, 'A finished training run (config.json + delta.safetensors).')
  flags.DEFINE_string('input', '-', 'Examples: .tsv (header), .jsonl, or text lines (.txt or - for stdin).')
  flags.DEFINE_string('output', '-', 'Predictions file (- for stdout); with --glue_test, a directory.')
  flags.DEFINE_bool('glue_test', False, "Predict the task's GLUE test split and write submission files.")
  flags.DEFINE_string('glue_dir', None, 'GLUE TSV root for --glue_test (default $GLUE_DIR; unset: TFDS).')
  flags.DEFINE_integer('batch_size', 32, 'Examples per batch.')


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f'Unexpected arguments: {argv[1:]}')
  run = inference.load_run(FLAGS.workdir)
  if FLAGS.glue_test:
    if FLAGS.output == '-':
      raise app.UsageError('--glue_test writes files: set --output to a directory.')
    for path in write_glue_test(run, FLAGS.output, sources.resolve_glue_dir(FLAGS.glue_dir), FLAGS.batch_size):
      print(f'Wrote {path}', file=sys.stderr)
    return
  index, texts = read_examples(run.task, FLAGS.input)
  if not texts:
    raise app.UsageError(f'--input={FLAGS.input} holds no examples.')
  write_predictions(run.task, index, inference.logits_of(run, texts, FLAGS.batch_size), FLAGS.output)


if __name__ == '__main__':
  define_flags()
  flags.mark_flag_as_required('workdir')
  app.run(main)
