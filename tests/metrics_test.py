"""Tests for spartan_jax.metrics against scikit-learn and scipy."""

from absl.testing import absltest
from absl.testing import parameterized
import numpy as np
from scipy import stats
from sklearn import metrics as skm

from spartan_jax import metrics
from spartan_jax.data import tasks


def _random(task, n=200, seed=0):
  rng = np.random.default_rng(seed)
  if task == 'stsb':
    labels = rng.uniform(0, 5, n)
    return labels + rng.normal(0, 1, n), labels
  k = tasks.get_task(task).num_labels
  labels = rng.integers(0, k, n)
  preds = np.where(rng.random(n) < .7, labels, rng.integers(0, k, n))
  return preds, labels


class MetricsTest(parameterized.TestCase):

  def test_cola_mcc(self):
    p, y = _random('cola')
    self.assertEqual(metrics.compute_metrics('cola', p, y),
                     {'mcc': skm.matthews_corrcoef(y, p)})

  @parameterized.parameters('mrpc', 'qqp')
  def test_f1_and_accuracy(self, task):
    p, y = _random(task)
    self.assertEqual(metrics.compute_metrics(task, list(p), list(y)),
                     {'f1': skm.f1_score(y, p),
                      'accuracy': skm.accuracy_score(y, p)})

  def test_stsb_correlations(self):
    p, y = _random('stsb')
    got = metrics.compute_metrics('stsb', p, y)
    self.assertAlmostEqual(got['pearson'], stats.pearsonr(p, y)[0])
    self.assertAlmostEqual(got['spearman'], stats.spearmanr(p, y)[0])
    self.assertLen(got, 2)

  @parameterized.parameters('sst2', 'mnli', 'qnli', 'rte', 'wnli', 'topics')
  def test_accuracy(self, task):
    p, y = _random(task)
    self.assertEqual(metrics.compute_metrics(tasks.get_task(task), p, y),
                     {'accuracy': skm.accuracy_score(y, p)})

  def test_task_score_is_mean_over_metrics_and_splits(self):
    self.assertAlmostEqual(
        metrics.task_score('mrpc', {'validation': {'f1': .9, 'accuracy': .8}}),
        .85)
    self.assertAlmostEqual(
        metrics.task_score('mnli', {'validation_matched': {'accuracy': .8},
                                    'validation_mismatched': {'accuracy': .7}}),
        .75)

  def test_glue_score_averages_task_scores(self):
    results = {}
    for i, task in enumerate(tasks.GLUE_TASKS):
      p, y = _random(task, seed=i)
      m = metrics.compute_metrics(task, p, y)
      results[task] = {s: m for s in tasks.get_task(task).eval_splits}
    want = np.mean([np.mean(list(r['validation_matched' if t == 'mnli' else
                                   'validation'].values()))
                    for t, r in results.items()])
    self.assertAlmostEqual(metrics.glue_score(results), want)
    self.assertAlmostEqual(
        metrics.glue_score({'rte': results['rte'], 'cola': results['cola']}),
        (results['rte']['validation']['accuracy']
         + results['cola']['validation']['mcc']) / 2)

  @parameterized.named_parameters(
      ('length_mismatch', [0, 1], [0, 1, 1], 'same length'),
      ('empty', [], [], 'no predictions'),
      ('not_1d', [[0, 1]], [[0, 1]], '1-D'))
  def test_compute_errors(self, preds, labels, regex):
    with self.assertRaisesRegex(ValueError, regex):
      metrics.compute_metrics('sst2', preds, labels)

  def test_score_errors(self):
    with self.assertRaisesRegex(ValueError, 'validation_mismatched'):
      metrics.task_score('mnli', {'validation_matched': {'accuracy': .8}})
    with self.assertRaisesRegex(ValueError, r"\['f1'\] missing"):
      metrics.task_score('mrpc', {'validation': {'accuracy': .8}})
    with self.assertRaisesRegex(ValueError, 'Not GLUE'):
      metrics.glue_score({'topics': {'test': {'accuracy': .9}}})
    with self.assertRaisesRegex(ValueError, 'at least one'):
      metrics.glue_score({})
    with self.assertRaisesRegex(ValueError, 'Unknown task'):
      metrics.compute_metrics('glue', [1], [1])


if __name__ == '__main__':
  absltest.main()
