"""Host-side task metrics (scikit-learn/scipy) and GLUE score aggregation.

Metrics are fractions in [0, 1] (correlations in [-1, 1]), not percentages.
A task's score is the unweighted mean of its metrics over its eval splits
(so MNLI averages matched and mismatched accuracy); the GLUE score is the
mean of the task scores given.
"""

from collections.abc import Mapping, Sequence

import numpy as np
from scipy import stats
from sklearn import metrics as skm

from spartan_jax.data import tasks as tasks_lib

_METRICS = {
    'accuracy': skm.accuracy_score,
    'f1': skm.f1_score,  # binary, positive class 1.
    'mcc': skm.matthews_corrcoef,
    'pearson': lambda y, p: stats.pearsonr(p, y)[0],
    'spearman': lambda y, p: stats.spearmanr(p, y)[0],
}


def compute_metrics(task: str | tasks_lib.Task, predictions: Sequence,
                    labels: Sequence) -> dict[str, float]:
  """Returns `{metric: value}` for `task`'s metrics.

  Args:
    task: a task name or `Task`.
    predictions: class ids, or scores for regression tasks.
    labels: gold class ids or scores, aligned with `predictions`.
  """
  task = _as_task(task)
  predictions, labels = np.asarray(predictions), np.asarray(labels)
  if predictions.shape != labels.shape or predictions.ndim != 1:
    raise ValueError(
        f'{task.name}: predictions {predictions.shape} and labels '
        f'{labels.shape} must be 1-D and of the same length.')
  if not len(labels):
    raise ValueError(f'{task.name}: no predictions to score.')
  return {m: float(_METRICS[m](labels, predictions)) for m in task.metrics}


def split_score(task: str | tasks_lib.Task, metrics: Mapping[str, float]) -> float:
  """Mean of the task's metrics on one split (the number dev-set model selection maximises)."""
  task = _as_task(task)
  missing = [m for m in task.metrics if m not in metrics]
  if missing:
    raise ValueError(f'{task.name}: metrics {missing} missing; got {sorted(metrics)}.')
  return float(np.mean([metrics[m] for m in task.metrics]))


def task_score(task: str | tasks_lib.Task,
               split_metrics: Mapping[str, Mapping[str, float]]) -> float:
  """Mean of the task's metrics over its eval splits.

  Args:
    task: a task name or `Task`.
    split_metrics: `{eval split: compute_metrics(...)}`, e.g.
      `{'validation': {'f1': .9, 'accuracy': .86}}`.
  """
  task = _as_task(task)
  missing = [split for split in task.eval_splits if split not in split_metrics]
  if missing:
    raise ValueError(f'{task.name}: no metrics for eval splits {missing}; '
                     f'got {sorted(split_metrics)}.')
  return float(np.mean([split_score(task, split_metrics[s]) for s in task.eval_splits]))


def glue_average(scores: Mapping[str, float]) -> float:
  """Mean of `{GLUE task: score}`, the score in any unit (a fraction, a percentage)."""
  if not scores:
    raise ValueError('A GLUE average needs at least one task.')
  other = sorted(set(scores) - set(tasks_lib.GLUE_TASKS))
  if other:
    raise ValueError(f'Not GLUE tasks: {other}.')
  return float(np.mean(list(scores.values())))


def glue_score(
    results: Mapping[str, Mapping[str, Mapping[str, float]]]) -> float:
  """Mean task score over the GLUE tasks in `{task: {split: metrics}}`."""
  return glue_average({t: task_score(t, m) for t, m in results.items()})


def _as_task(task):
  return task if isinstance(task, tasks_lib.Task) else tasks_lib.get_task(task)
