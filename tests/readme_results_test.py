"""The README's score tables say what the committed reports' CSVs say: a cell edited by hand, or a report
regenerated without updating the README, fails here."""

import csv
import os

from absl.testing import absltest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RESULTS = os.path.join(ROOT, 'experiments', 'results')
METHODS = {'SPARTAN': 'spartan', 'Houlsby adapters': 'houlsby', 'Pfeiffer adapters': 'pfeiffer', 'LoRA': 'lora',
           'BitFit': 'bitfit', 'head only': 'head_only', 'full fine-tuning': 'full'}


def _readme_table(header: str) -> dict[str, list[str]]:
  """{method: its row's cells after the name} of the README table whose header line starts with `header`."""
  with open(os.path.join(ROOT, 'README.md')) as f:
    lines = f.read().splitlines()
  starts = [i for i, line in enumerate(lines) if line.startswith(header)]
  if len(starts) != 1:
    raise AssertionError(f'README has {len(starts)} tables whose header starts with {header!r}, not one.')
  table = {}
  for line in lines[starts[0] + 2:]:
    if not line.startswith('|'):
      break
    name, *cells = [c.strip() for c in line.strip('|').split('|')]
    method = [m for label, m in METHODS.items() if name.startswith(label)]
    table[method[0] if method else name] = cells
  return table


def _report_rows(name: str, protocol: str) -> dict[tuple[str, str], dict]:
  with open(os.path.join(RESULTS, f'{name}.csv')) as f:
    return {(r['task'], r['method']): r for r in csv.DictReader(f) if r['protocol'] == protocol}


def _paired(name: str, protocol: str) -> dict[str, dict[str, str]]:
  """{method: {column: cell}} of the report's 'spartan − method, paired by seed' table, cells as the README
  writes them: sign always shown, no seed count, U+2212 minus."""
  with open(os.path.join(RESULTS, f'{name}.md')) as f:
    section = f.read().split(f'## {protocol}: spartan − method, paired by seed')[1].split('\n## ')[0]
  lines = [line for line in section.splitlines() if line.startswith('|')]
  columns = [c.strip() for c in lines[0].strip('|').split('|')]
  table = {}
  for line in lines[2:]:
    cells = [c.strip().split(' (n=')[0] for c in line.strip('|').split('|')]
    cells = ['0.0' + c[4:] if c.startswith('-0.0') else c for c in cells]
    cells = [c if c.startswith(('-', '0.0')) else '+' + c for c in cells]
    table[cells[0][1:]] = {col: c.replace('-', '−') for col, c in zip(columns[1:], cells[1:])}
  return table


def _score(row: dict) -> str:
  """A report row as the README writes it: mean ± sample std (mean alone for one seed), U+2212 minus."""
  cell = f"{float(row['score_mean']):.1f}" + (f" ± {float(row['score_std']):.1f}" if row['score_std'] else '')
  return cell.replace('-', '−')


def _mean(rows) -> str:
  return f"{sum(float(r['score_mean']) for r in rows) / len(rows):.1f}".replace('-', '−')


class ReadmeResultsTest(absltest.TestCase):

  def assert_rows(self, table, rows, tasks, methods=tuple(METHODS.values()), with_average=True):
    self.assertEqual(sorted(table), sorted(methods))
    for method in methods:
      expected = [_score(rows[(task, method)]) for task in tasks]
      if with_average:
        expected.append(_mean([rows[(task, method)] for task in tasks]))
      self.assertEqual(table[method][:len(expected)], expected, method)

  def test_full_data_table(self):
    table = _readme_table('| method | MRPC (F1/acc) | STS-B (r/ρ) | CoLA (MCC) | RTE (acc) | 4-task avg |')
    self.assert_rows(table, _report_rows('glue_full_lr_minilm', 'full'), ['mrpc', 'stsb', 'cola', 'rte'])
    sst2 = _report_rows('glue_full_minilm', 'full')
    for method, cells in table.items():
      self.assertEqual(cells[5], _score(sst2[('sst2', method)]), method)
      row = sst2[('sst2', method)]
      self.assertTrue(cells[6].startswith(f"{int(float(row['trainable_params'])):,} ("), method)

  def test_full_data_paired_table(self):
    table = _readme_table('| method | lr | MRPC | STS-B | CoLA | RTE | 4-task avg |')
    paired = _paired('glue_full_lr_minilm', 'full')
    self.assertEqual(sorted(table), sorted(paired))
    for method, cells in table.items():
      self.assertEqual(cells[1:], [paired[method][c] for c in ('mrpc', 'stsb', 'cola', 'rte', 'avg')], method)

  def test_few_shot_tables(self):
    tasks = ['cola', 'sst2', 'mrpc', 'stsb', 'rte']
    header = '| method | CoLA MCC | SST-2 acc | MRPC F1/acc | STS-B r/ρ | RTE acc | GLUE avg'
    self.assert_rows(_readme_table(header + ' |'), _report_rows('fewshot_lr_minilm', 'k=16'), tasks)
    self.assert_rows(_readme_table(header + ' (default lr) |'), _report_rows('fewshot_default_lr_minilm', 'k=16'),
                     tasks)

  def test_few_shot_paired_table(self):
    table = _readme_table('| method | CoLA | SST-2 | MRPC | STS-B | RTE | 5-task avg | without STS-B |')
    paired = _paired('fewshot_lr_minilm', 'k=16')
    self.assertEqual(sorted(table), sorted(paired))
    columns = ('cola', 'sst2', 'mrpc', 'stsb', 'rte', 'avg', 'avg w/o regression')
    for method, cells in table.items():
      self.assertEqual(cells, [paired[method][c] for c in columns], method)

  def test_score_vs_k_tables(self):
    methods = ['spartan', 'houlsby', 'pfeiffer', 'lora', 'head_only']
    columns = {'fewshot_vs_k_minilm': (['sst2', 'mrpc'], '| method | SST-2 k=16, lr on dev | k=64 | k=256 | '
                                                         'MRPC k=16, lr on dev | k=64 | k=256 |'),
               'fewshot_vs_k_default_lr_minilm': (['sst2', 'mrpc'],
                                                  '| method | SST-2, k=16 | k=64 | k=256 | MRPC, k=16 | k=64 | k=256 |')}
    for name, (tasks, header) in columns.items():
      table = _readme_table(header)
      self.assertEqual(sorted(table), sorted(methods))
      rows = {k: _report_rows(name, f'k={k}') for k in (16, 64, 256)}
      for method in methods:
        expected = [_score(rows[k][(task, method)]) for task in tasks for k in (16, 64, 256)]
        self.assertEqual(table[method], expected, (name, method))
