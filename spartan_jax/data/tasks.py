"""The task table: GLUE's nine tasks plus the BBC News topic set.

Each `Task` says where its examples live (the TFDS name and the original GLUE
TSV layout), how labels are numbered (TFDS's order), which splits are
evaluated and which metrics score it. GLUE convention: a task's score is the
unweighted mean of its metrics over its eval splits; the GLUE score is the
mean of the task scores.
"""

import dataclasses


@dataclasses.dataclass(frozen=True)
class TsvLayout:
  """Where a task's TSV files are and how their rows parse.

  Attributes:
    dirname: folder under the TSV root, e.g. `SST-2`.
    files: split name -> file name inside `dirname`.
    columns: (text_a, text_b or None, label) columns: header names, or
      0-based indices when the file has no header.
    header: whether the first line is a header.
    labels: how the label column parses: 'index' (an integer class id),
      'name' (one of the task's label names) or 'float' (a regression score).
  """
  dirname: str
  files: dict[str, str]
  columns: tuple[str | int, str | int | None, str | int]
  header: bool = True
  labels: str = 'index'


@dataclasses.dataclass(frozen=True)
class Task:
  """One classification or regression task.

  Attributes:
    name: our name, e.g. 'sst2'.
    tfds_name: e.g. 'glue/sst2'; None where TFDS has no copy.
    text_fields: TFDS feature names of text_a and text_b (None if single).
    label_names: class names, index = class id (TFDS's order); empty for
      regression.
    tsv: the TSV layout.
    metrics: metric names reported by `spartan_jax.metrics`.
    eval_splits: the labelled splits that are evaluated.
  """
  name: str
  tfds_name: str | None
  text_fields: tuple[str, str | None]
  label_names: tuple[str, ...]
  tsv: TsvLayout
  metrics: tuple[str, ...] = ('accuracy',)
  eval_splits: tuple[str, ...] = ('validation',)

  @property
  def is_regression(self) -> bool:
    return not self.label_names

  @property
  def num_labels(self) -> int:
    """Output width of the head: 1 for regression."""
    return len(self.label_names) or 1

  @property
  def splits(self) -> tuple[str, ...]:
    """All labelled splits: 'train' and the eval splits."""
    return ('train',) + self.eval_splits


def _files(eval_splits=('validation',), dev_files=('dev.tsv',)):
  return {'train': 'train.tsv', **dict(zip(eval_splits, dev_files))}


_MNLI_EVAL = ('validation_matched', 'validation_mismatched')

TASKS: dict[str, Task] = {t.name: t for t in [
    Task('cola', 'glue/cola', ('sentence', None),
         ('unacceptable', 'acceptable'),
         TsvLayout('CoLA', _files(), (3, None, 1), header=False),
         metrics=('mcc',)),
    Task('sst2', 'glue/sst2', ('sentence', None), ('negative', 'positive'),
         TsvLayout('SST-2', _files(), ('sentence', None, 'label'))),
    Task('mrpc', 'glue/mrpc', ('sentence1', 'sentence2'),
         ('not_equivalent', 'equivalent'),
         TsvLayout('MRPC', _files(), ('#1 String', '#2 String', 'Quality')),
         metrics=('f1', 'accuracy')),
    Task('stsb', 'glue/stsb', ('sentence1', 'sentence2'), (),
         TsvLayout('STS-B', _files(), ('sentence1', 'sentence2', 'score'),
                   labels='float'),
         metrics=('pearson', 'spearman')),
    Task('qqp', 'glue/qqp', ('question1', 'question2'),
         ('not_duplicate', 'duplicate'),
         TsvLayout('QQP', _files(), ('question1', 'question2', 'is_duplicate')),
         metrics=('f1', 'accuracy')),
    Task('mnli', 'glue/mnli', ('premise', 'hypothesis'),
         ('entailment', 'neutral', 'contradiction'),
         TsvLayout('MNLI',
                   _files(_MNLI_EVAL, ('dev_matched.tsv', 'dev_mismatched.tsv')),
                   ('sentence1', 'sentence2', 'gold_label'), labels='name'),
         eval_splits=_MNLI_EVAL),
    Task('qnli', 'glue/qnli', ('question', 'sentence'),
         ('entailment', 'not_entailment'),
         TsvLayout('QNLI', _files(), ('question', 'sentence', 'label'),
                   labels='name')),
    Task('rte', 'glue/rte', ('sentence1', 'sentence2'),
         ('entailment', 'not_entailment'),
         TsvLayout('RTE', _files(), ('sentence1', 'sentence2', 'label'),
                   labels='name')),
    Task('wnli', 'glue/wnli', ('sentence1', 'sentence2'),
         ('not_entailment', 'entailment'),
         TsvLayout('WNLI', _files(), ('sentence1', 'sentence2', 'label'))),
    # BBC News (shared/data/topics): its TSV root is the folder holding
    # bbc_news/, and it has no dev split, so its test split is evaluated.
    Task('topics', None, ('text', None),
         ('business', 'entertainment', 'politics', 'sport', 'tech'),
         TsvLayout('bbc_news', _files(('test',), ('test.tsv',)),
                   ('text', None, 'label'), labels='name'),
         eval_splits=('test',)),
]}

GLUE_TASKS = ('cola', 'sst2', 'mrpc', 'stsb', 'qqp', 'mnli', 'qnli', 'rte',
              'wnli')


def get_task(name: str) -> Task:
  """Returns the task called `name`; ValueError listing valid names if none."""
  try:
    return TASKS[name]
  except KeyError:
    raise ValueError(
        f'Unknown task {name!r}; valid tasks: {", ".join(TASKS)}.') from None
