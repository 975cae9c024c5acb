"""Tests for experiments.report on synthetic results.json records."""

import csv
import io
import json
import os
import sys

from absl.testing import absltest
from absl.testing import parameterized
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # experiments/ is not installed.
from experiments import report  # pylint: disable=g-import-not-at-top
from spartan_jax import metrics as metrics_lib

BACKBONE = 1000
TRAINABLE = {'spartan': 50, 'houlsby': 80, 'head_only': 10, 'full': 1010}
EXTRA = {'spartan': 40, 'houlsby': 70, 'head_only': 0, 'full': 0}  # Params a method adds.


def record(task, method, seed, value, k=16, lr=1e-3, checkpoint='minilm', train_seconds=10.0):
  """A results.json as train.train_and_evaluate writes it; every metric of the task equals `value`."""
  metric_names = {'sst2': ['accuracy'], 'rte': ['accuracy'], 'mrpc': ['f1', 'accuracy'],
                  'stsb': ['pearson', 'spearman'], 'cola': ['mcc'], 'topics': ['accuracy']}[task]
  split = 'test' if task == 'topics' else 'validation'
  test = {split: {m: value + 0.01 * i for i, m in enumerate(metric_names)}}
  total = BACKBONE + EXTRA[method]
  trainable = TRAINABLE[method]
  return {
      'task': task, 'method': method, 'protocol': 'lmbff' if k else 'full', 'seed': seed, 'test': test,
      'test_score': metrics_lib.task_score(task, test), 'best_step': 100, 'total_steps': 200 if k else 900,
      'best_dev_score': 0.5, 'params': {'trainable': trainable, 'frozen': total - trainable},
      'delta_bytes': 4 * trainable + 100, 'seconds': {'train': train_seconds, 'eval': 1.0, 'total': 12.0},
      'devices': ['cpu'],
      'config': {'task': task, 'seed': seed,
                 'data': {'protocol': 'lmbff' if k else 'full', 'k': k, 'n': 0, 'split_seed': seed,
                          'max_length': 128, 'glue_dir': 'g'},
                 'model': {'checkpoint': checkpoint, 'dtype': 'float32'},
                 'method': {'name': method},
                 'train': {'learning_rate': lr, 'batch_size': 16, 'num_steps': 200 if k else 0, 'warmup_ratio': 0.0,
                           'weight_decay': 0.0, 'eval_every': 20}},
  }


SCORES = {  # (task, method): test score fraction per seed 13, 21, 42.
    ('sst2', 'spartan'): [.80, .84, .88], ('sst2', 'houlsby'): [.70, .72, .74],
    ('rte', 'spartan'): [.60, .56, .52], ('rte', 'houlsby'): [.50, .54, .58],
}


def records_two_tasks(**kwargs):
  return [record(task, method, seed, v, **kwargs)
          for (task, method), values in SCORES.items() for seed, v in zip((13, 21, 42), values)]


def row(rows, task, method, protocol='k=16', setting=''):
  [found] = [r for r in rows if (r['task'], r['method'], r['protocol'], r['setting']) == (task, method, protocol,
                                                                                          setting)]
  return found


class AggregateTest(parameterized.TestCase):

  def test_mean_and_sample_std(self):
    rows = report.summarize(records_two_tasks())
    self.assertLen(rows, 4)
    r = row(rows, 'sst2', 'spartan')
    self.assertEqual((r['n'], r['seeds']), (3, [13, 21, 42]))
    np.testing.assert_allclose(r['score'], (84.0, 4.0))  # std of 80 84 88 with ddof=1 is 4 (ddof=0: 3.27).
    np.testing.assert_allclose(r['metrics']['accuracy'], (84.0, 4.0))
    np.testing.assert_allclose(row(rows, 'rte', 'houlsby')['score'], (54.0, 4.0))
    self.assertEqual([(r['task'], r['method']) for r in rows],
                     [('sst2', 'spartan'), ('sst2', 'houlsby'), ('rte', 'spartan'), ('rte', 'houlsby')])

  def test_one_seed_has_no_std(self):
    self.assertEqual(report.mean_std([0.5]), (0.5, None))
    [r] = report.summarize([record('sst2', 'spartan', 13, .9)])
    self.assertIsNone(r['score'][1])

  def test_multi_metric_task(self):
    rows = report.summarize([record('mrpc', 'spartan', s, v) for s, v in ((13, .7), (21, .8))])
    metrics = rows[0]['metrics']
    np.testing.assert_allclose(metrics['f1'][0], 75.0)
    np.testing.assert_allclose(metrics['accuracy'][0], 76.0)
    np.testing.assert_allclose(rows[0]['score'][0], 75.5)  # Mean of the task's metrics.

  def test_glue_average_is_mean_of_task_means(self):
    rows = report.summarize(records_two_tasks())
    averages = report.glue_average(rows)
    self.assertEqual([a['method'] for a in averages], ['spartan', 'houlsby'])
    spartan = averages[0]
    self.assertEqual((spartan['task'], spartan['n'], spartan['complete']), (report.GLUE_AVG, 2, True))
    np.testing.assert_allclose(spartan['score'][0], (84 + 56) / 2)
    self.assertIsNone(spartan['score'][1])
    np.testing.assert_allclose(averages[1]['score'][0], (72 + 54) / 2)

  def test_glue_average_needs_two_glue_tasks(self):
    records = [record('sst2', 'spartan', 13, .9), record('topics', 'spartan', 13, .8)]
    self.assertEqual(report.glue_average(report.summarize(records)), [])

  def test_glue_average_marks_missing_tasks(self):
    records = records_two_tasks() + [record('cola', 'spartan', 13, .3)]
    averages = {a['method']: a for a in report.glue_average(report.summarize(records))}
    self.assertTrue(averages['spartan']['complete'])
    self.assertFalse(averages['houlsby']['complete'])
    self.assertEqual(averages['houlsby']['tasks'], ['sst2', 'rte'])

  def test_hyperparameter_grid_becomes_setting(self):
    records = records_two_tasks(lr=1e-3) + records_two_tasks(lr=3e-4)
    self.assertEqual(report.setting_fields(records), ['train.learning_rate'])
    rows = report.summarize(records)
    self.assertLen(rows, 8)
    self.assertEqual(row(rows, 'sst2', 'spartan', setting='learning_rate=0.0003')['n'], 3)
    self.assertLen(report.glue_average(rows), 4)

  def test_protocols_are_separate_rows(self):
    records = records_two_tasks(k=16) + records_two_tasks(k=32) + records_two_tasks(k=0)
    rows = report.summarize(records)
    self.assertEqual(list(dict.fromkeys(r['protocol'] for r in rows)), ['k=16', 'k=32', 'full'])
    self.assertEqual(report.setting_fields(records), [])  # num_steps follows the protocol: no setting.

  def test_params_and_backbone(self):
    records = records_two_tasks() + [record('sst2', 'head_only', 13, .6)]
    self.assertEqual(report.backbone_params(records), {'minilm': BACKBONE})
    rows = report.summarize(records)
    r = row(rows, 'sst2', 'spartan')
    self.assertEqual((r['trainable'], r['total_params'], r['delta_bytes']), (50, 1040, 300))
    np.testing.assert_allclose(r['pct_backbone'], 5.0)
    self.assertIsNone(row(report.summarize(records_two_tasks()), 'sst2', 'spartan')['pct_backbone'])

  def test_paired_differences(self):
    stsb = {'spartan': [.10, .20, .30], 'houlsby': [.40, .40, .40]}
    records = records_two_tasks() + [record('stsb', m, seed, v) for m, values in stsb.items()
                                     for seed, v in zip((13, 21, 42), values)]
    records.append(record('sst2', 'head_only', 13, .60))  # One seed, one task: no average.
    rows = report.paired_differences(records)
    self.assertEqual([(r['method'], r['protocol']) for r in rows], [('head_only', 'k=16'), ('houlsby', 'k=16')])
    houlsby, head_only = rows[1], rows[0]
    diff = {t: 100 * (np.asarray(SCORES[(t, 'spartan')]) - SCORES[(t, 'houlsby')]) for t in ('sst2', 'rte')}
    diff['stsb'] = 100 * (np.asarray(stsb['spartan']) - stsb['houlsby'])
    for task, d in diff.items():
      mean, std, n = houlsby['tasks'][task]
      self.assertAlmostEqual(mean, d.mean(), places=6)
      self.assertAlmostEqual(std, d.std(ddof=1), places=6)
      self.assertEqual(n, 3)
    per_seed = np.mean([diff['sst2'], diff['rte'], diff['stsb']], axis=0)
    np.testing.assert_allclose(houlsby['avg'], (per_seed.mean(), per_seed.std(ddof=1)), atol=1e-6)
    per_seed = np.mean([diff['sst2'], diff['rte']], axis=0)  # STS-B is regression.
    np.testing.assert_allclose(houlsby['avg_classification'], (per_seed.mean(), per_seed.std(ddof=1)), atol=1e-6)
    self.assertEqual(list(head_only['tasks']), ['sst2'])
    mean, std, n = head_only['tasks']['sst2']
    self.assertAlmostEqual(mean, 20.0, places=6)
    self.assertEqual((std, n), (None, 1))
    self.assertIsNone(head_only['avg'])
    self.assertEqual(head_only['seeds'], [13])
    markdown = report.to_markdown(report.summarize(records), [], records, 'cmd')
    self.assertIn('## k=16: spartan − method, paired by seed', markdown)
    self.assertIn(f"| houlsby | {diff['sst2'].mean():.1f} ± {diff['sst2'].std(ddof=1):.1f} (n=3) |", markdown)

  def test_no_pairs_when_the_reference_has_several_settings(self):
    records = records_two_tasks() + [record('sst2', 'spartan', 13, .5, lr=3e-4)]
    self.assertEqual(report.paired_differences(records), [])

  def test_budget(self):
    b = report.budget(records_two_tasks() + records_two_tasks(k=0))
    self.assertEqual(b['k=16']['steps'], [200])
    self.assertEqual(b['k=16']['batch size'], [16])
    self.assertEqual(b['k=16']['learning rate'], [1e-3])
    self.assertEqual(b['full']['steps'], [900])
    self.assertEqual(b['full']['commit'], ['not recorded'])

  def test_budget_names_the_commits(self):
    records = records_two_tasks()
    records[0]['commit'], records[1]['commit'] = 'a' * 40, 'b' * 40 + '-dirty'
    self.assertEqual(report.budget(records)['k=16']['commit'], ['aaaaaaa', 'bbbbbbb-dirty', 'not recorded'])


class SelectOnDevTest(parameterized.TestCase):

  def _grid(self, dev_and_test, seeds=(13, 21), task='sst2', method='spartan', **kwargs):
    """Records over lrs; dev_and_test maps lr -> (dev score, test score)."""
    records = []
    for seed in seeds:
      for lr, (dev, test) in dev_and_test.items():
        r = record(task, method, seed, test, lr=lr, **kwargs)
        records.append(dict(r, best_dev_score=dev))
    return records

  def test_the_dev_best_lr_wins_even_when_another_has_a_better_test_score(self):
    records = self._grid({1e-3: (0.60, 0.90), 3e-3: (0.70, 0.50), 3e-4: (0.65, 0.95)})
    selected = report.select_on_dev(records, 'train.learning_rate')
    self.assertEqual([(r['seed'], r['selected']['value']) for r in selected], [(13, 3e-3), (21, 3e-3)])
    self.assertEqual(selected[0]['selected']['grid'], [3e-4, 1e-3, 3e-3])
    [r] = report.summarize(selected)  # One row: the selected field is not a setting.
    self.assertEqual((r['setting'], r['selected'], r['n']), ('', [3e-3, 3e-3], 2))
    np.testing.assert_allclose(r['score'][0], 50.0)

  def test_each_seed_chooses_for_itself(self):
    records = self._grid({1e-3: (0.6, 0.6), 3e-3: (0.7, 0.7)}, seeds=[13])
    records += self._grid({1e-3: (0.8, 0.8), 3e-3: (0.7, 0.7)}, seeds=[21])
    [r] = report.summarize(report.select_on_dev(records, 'train.learning_rate'))
    self.assertEqual(r['selected'], [3e-3, 1e-3])

  def test_ties_go_to_the_smaller_value(self):
    selected = report.select_on_dev(self._grid({3e-3: (0.7, 0.1), 1e-3: (0.7, 0.2)}), 'train.learning_rate')
    self.assertEqual({r['selected']['value'] for r in selected}, {1e-3})

  def test_groups_never_mix_tasks_methods_or_other_settings(self):
    records = (self._grid({1e-3: (0.6, 0.6), 3e-3: (0.7, 0.7)})
               + self._grid({1e-3: (0.9, 0.9), 3e-3: (0.7, 0.7)}, method='houlsby')
               + self._grid({1e-3: (0.9, 0.9), 3e-3: (0.7, 0.7)}, checkpoint='roberta-base'))
    selected = report.select_on_dev(records, 'train.learning_rate')
    self.assertLen(selected, 6)
    winners = {(r['method'], r['config']['model']['checkpoint'], r['selected']['value']) for r in selected}
    self.assertEqual(winners, {('spartan', 'minilm', 3e-3), ('houlsby', 'minilm', 1e-3),
                               ('spartan', 'roberta-base', 1e-3)})

  def test_a_value_chosen_on_one_seed_is_fixed_for_every_seed(self):
    records = self._grid({1e-3: (0.6, 0.9), 3e-3: (0.7, 0.5)}, seeds=[13])
    records += self._grid({1e-3: (0.9, 0.9), 3e-3: (0.1, 0.3)}, seeds=[21])  # Seed 21 alone would pick 1e-3.
    records += self._grid({1e-3: (0.9, 0.9)}, seeds=[42])  # No run at the winner: dropped.
    selected = report.select_on_dev(records, 'train.learning_rate', on_seed=13)
    self.assertEqual([(r['seed'], r['selected']['value']) for r in selected], [(13, 3e-3), (21, 3e-3)])
    self.assertEqual(selected[1]['selected']['grid'], [1e-3, 3e-3])
    [r] = report.summarize(selected)
    self.assertEqual((r['n'], r['selected']), (2, [3e-3, 3e-3]))
    np.testing.assert_allclose(r['score'][0], 40.0)

  def test_dev_choices_are_the_seed_choices_per_task_and_method(self):
    records = (self._grid({1e-3: (0.6, 0.9), 3e-3: (0.7, 0.5)}, seeds=[13, 21])
               + self._grid({1e-3: (0.9, 0.1), 3e-3: (0.7, 0.9)}, seeds=[13], method='houlsby'))
    choices = report.dev_choices(records, 'train.learning_rate', on_seed=13)
    self.assertEqual({key: (c['value'], c['grid']) for key, c in choices.items()},
                     {('sst2', 'k=16', 'spartan'): (3e-3, [1e-3, 3e-3]),
                      ('sst2', 'k=16', 'houlsby'): (1e-3, [1e-3, 3e-3])})

  def test_dev_choices_refuse_two_groups_under_one_key(self):
    records = (self._grid({1e-3: (0.6, 0.6), 3e-3: (0.7, 0.7)}, seeds=[13])
               + self._grid({1e-3: (0.9, 0.9), 3e-3: (0.7, 0.7)}, seeds=[13], checkpoint='roberta-base'))
    with self.assertRaisesRegex(ValueError, 'Two train.learning_rate choices for'):
      report.dev_choices(records, 'train.learning_rate', on_seed=13)

  def test_choosing_on_a_seed_without_runs_is_an_error(self):
    with self.assertRaisesRegex(ValueError, 'no run with seed 42'):
      report.select_on_dev(self._grid({1e-3: (0.6, 0.6)}), 'train.learning_rate', on_seed=42)

  def test_no_dev_split_is_an_error(self):
    records = self._grid({1e-3: (None, 0.6), 3e-3: (0.7, 0.7)})
    with self.assertRaisesRegex(ValueError, 'no dev split'):
      report.select_on_dev(records, 'train.learning_rate')

  def test_report_lists_the_winners(self):
    records = self._grid({1e-3: (0.6, 0.9), 3e-3: (0.7, 0.5)})
    out = os.path.join(self.create_tempdir().full_path, 'r')
    report.write_report(records, [], out, 'cmd', select_field='train.learning_rate')
    with open(f'{out}.md') as f:
      text = f.read()
    self.assertIn('## k=16: train.learning_rate chosen on dev, per seed', text)
    self.assertIn('| spartan | 0.003 0.003 |', text)
    with open(f'{out}.csv') as f:
      [row_] = [r for r in csv.DictReader(f) if r['method'] == 'spartan']
    self.assertEqual(row_['selected_on_dev'], '0.003 0.003')
    report.write_report(records, [], out, 'cmd', select_field='train.learning_rate', select_on_seed=21)
    with open(f'{out}.md') as f:
      self.assertIn("chosen on dev, on seed 21's dev split, fixed for every seed", f.read())

  def _lr_report(self, records):
    """The markdown report of `records` with the lr chosen on dev per seed."""
    out = os.path.join(self.create_tempdir().full_path, 'r')
    report.write_report(records, [], out, 'cmd', select_field='train.learning_rate')
    with open(f'{out}.md') as f:
      return f.read()

  def test_each_protocol_lists_only_the_values_it_tried(self):
    records = self._grid({1e-3: (0.6, 0.9), 3e-3: (0.7, 0.5)}) + self._grid({3e-4: (0.6, 0.9), 1e-3: (0.7, 0.5)}, k=0)
    sections = self._lr_report(records).split('## ')
    [few_shot] = [s for s in sections if s.startswith('k=16: train.learning_rate chosen')]
    [full] = [s for s in sections if s.startswith('full: train.learning_rate chosen')]
    self.assertIn('Values tried: 0.001, 0.003.', few_shot)
    self.assertIn('Values tried: 0.0003, 0.001.', full)

  def test_a_group_that_tried_fewer_values_says_which(self):
    records = self._grid({1e-3: (0.6, 0.9), 3e-3: (0.7, 0.5)}) + self._grid({1e-3: (0.6, 0.9)}, method='houlsby')
    text = self._lr_report(records)
    self.assertIn('| spartan | 0.003 0.003 |', text)
    self.assertIn('| houlsby | 0.001 0.001 (of 0.001) |', text)

  def test_dev_scores_at_each_value_mark_each_seeds_choice(self):
    records = self._grid({1e-3: (0.6, 0.9), 3e-3: (0.7, 0.5)}, seeds=[13])
    records += self._grid({1e-3: (0.8, 0.8), 3e-3: (0.75, 0.7)}, seeds=[21])
    text = self._lr_report(records)
    self.assertIn('Dev score (%) at each value (each seed in order; chosen in bold)', text)
    self.assertIn('| sst2 | spartan | 60.0 / **80.0** | **70.0** / 75.0 |', text)

  def test_dev_scores_on_the_choosing_seed_only(self):
    records = self._grid({3e-4: (0.5, 0.9), 1e-3: (0.6, 0.9), 3e-3: (0.7, 0.5)}, seeds=[13])
    records += self._grid({3e-3: (0.1, 0.3)}, seeds=[21])
    out = os.path.join(self.create_tempdir().full_path, 'r')
    report.write_report(records, [], out, 'cmd', select_field='train.learning_rate', select_on_seed=13)
    with open(f'{out}.md') as f:
      text = f.read()
    self.assertIn('Dev score (%) at each value (the choosing seed; chosen in bold)', text)
    self.assertIn('| sst2 | spartan | 50.0 | 60.0 | **70.0** |', text)


class RenderTest(parameterized.TestCase):

  def setUp(self):
    super().setUp()
    self.records = records_two_tasks() + [record('sst2', 'head_only', s, .6) for s in (13, 21)]
    self.rows = report.summarize(self.records)
    self.averages = report.glue_average(self.rows)

  def test_markdown(self):
    md = report.to_markdown(self.rows, self.averages, self.records, 'python -m experiments.report --runs=r --out=o',
                            unfinished=['x'], title='fewshot')
    lines = md.splitlines()
    self.assertEqual(lines[0], '# fewshot')
    self.assertIn('    python -m experiments.report --runs=r --out=o', lines[:6])
    self.assertIn('- k=16: model minilm; steps 200; batch size 16; learning rate 0.001', md)
    self.assertIn('1 unfinished workdirs', md)
    self.assertIn('sample std (ddof=1)', md)
    self.assertIn('| method | sst2 | rte | GLUE avg |', md)
    self.assertIn('| spartan | 84.0 ± 4.0 (n=3) | 56.0 ± 4.0 (n=3) | 70.0 |', md)
    self.assertIn('| head_only | 60.0 ± 0.0 (n=2) |  | 60.0 (sst2 only) |', md)
    self.assertIn('| sst2 | k=16 | spartan |  | 3 | 84.0 ± 4.0 | accuracy 84.0 ± 4.0 | 10.0 | 50 | 5.000 | 300 |', md)

  def test_csv(self):
    table = list(csv.DictReader(io.StringIO(report.to_csv(self.rows, self.averages))))
    self.assertLen(table, 5 + 3)
    first = table[0]
    self.assertEqual((first['task'], first['method'], first['n'], first['seeds']), ('sst2', 'spartan', '3', '13 21 42'))
    self.assertEqual((float(first['score_mean']), float(first['score_std'])), (84.0, 4.0))
    self.assertEqual(float(first['accuracy_std']), 4.0)
    self.assertEqual(float(first['pct_backbone']), 5.0)
    glue = [r for r in table if r['task'] == report.GLUE_AVG]
    self.assertEqual([(r['method'], float(r['score_mean']), r['score_std']) for r in glue],
                     [('spartan', 70.0, ''), ('houlsby', 63.0, '')])

  def test_write_report_from_runs_folder(self):
    runs = self.create_tempdir().full_path
    records = self.records + records_two_tasks(k=32)
    for i, r in enumerate(records):
      os.makedirs(os.path.join(runs, f'job{i}', 'checkpoints'))
      with open(os.path.join(runs, f'job{i}', 'results.json'), 'w') as f:
        json.dump(r, f)
    os.makedirs(os.path.join(runs, 'interrupted'))
    open(os.path.join(runs, 'interrupted', 'config.json'), 'w').close()
    loaded, unfinished = report.load_records(runs)
    self.assertLen(loaded, len(records))
    self.assertEqual(unfinished, [os.path.join(runs, 'interrupted')])
    some, none_unfinished = report.load_records(runs, pattern=r'job[12]$')
    self.assertEqual([os.path.basename(r['workdir']) for r in some], ['job1', 'job2'])
    self.assertEqual(none_unfinished, [])
    out = os.path.join(self.create_tempdir().full_path, 'results', 'sweep')
    paths = report.write_report(loaded, unfinished, out, 'cmd')
    self.assertEqual(paths, [out + '.md', out + '.csv', out + '_vs_k.png', out + '_vs_params.png'])
    for path in paths[2:]:
      with open(path, 'rb') as f:
        self.assertEqual(f.read(8), b'\x89PNG\r\n\x1a\n')
    with open(out + '.md') as f:
      self.assertIn('![sweep_vs_k.png](sweep_vs_k.png)', f.read())

  def test_dev_curves_average_the_seeds_at_each_step(self):
    runs = self.create_tempdir().full_path
    dev = {13: {10: .5, 20: .7, 30: .9}, 21: {10: .6, 20: .8}}  # Seed 21's run stopped before step 30.
    records = []
    for seed, scores in dev.items():
      workdir = os.path.join(runs, f'spartan{seed}')
      os.makedirs(workdir)
      with open(os.path.join(workdir, 'metrics.jsonl'), 'w') as f:
        for step, score in scores.items():
          f.write(json.dumps({'step': step, 'train/loss': 1.0}) + '\n')
          f.write(json.dumps({'step': step, 'dev/accuracy': score, 'dev/score': score}) + '\n')
      records.append(dict(record('sst2', 'spartan', seed, .8), workdir=workdir))
    records.append(dict(record('sst2', 'houlsby', 13, .7), workdir=os.path.join(runs, 'no_metrics')))
    records.append(record('sst2', 'head_only', 13, .7))  # No workdir: the metrics.jsonl in the cwd is not its.
    with open(os.path.join(runs, 'metrics.jsonl'), 'w') as f:
      f.write(json.dumps({'step': 10, 'dev/score': 0.1}) + '\n')
    cwd = os.getcwd()
    os.chdir(runs)
    try:
      curves = report.dev_curves(records)
    finally:
      os.chdir(cwd)
    self.assertEqual(list(curves), [('k=16', 'sst2')])
    self.assertEqual(list(curves[('k=16', 'sst2')]), ['spartan'])
    [steps, means, counts] = zip(*curves[('k=16', 'sst2')]['spartan'])
    self.assertEqual((steps, counts), ((10, 20, 30), (2, 2, 1)))
    np.testing.assert_allclose(means, [55.0, 75.0, 90.0])
    out = os.path.join(self.create_tempdir().full_path, 'sweep')
    paths = report.write_report(records, [], out, 'cmd')
    self.assertEqual(paths[-1], out + '_dev_curves.png')
    with open(paths[-1], 'rb') as f:
      self.assertEqual(f.read(8), b'\x89PNG\r\n\x1a\n')

  def test_no_k_plot_with_one_k(self):
    self.assertIsNone(report.plot_vs_k(self.rows, os.path.join(self.create_tempdir().full_path, 'x.png')))


if __name__ == '__main__':
  absltest.main()
