r"""Tables and plots of a sweep's results: every results.json under a folder, averaged over seeds.

  python -m experiments.report --runs=experiments/runs/fewshot_minilm --out=experiments/results/fewshot_minilm

Writes <out>.md, <out>.csv and PNGs next to them (<out>_vs_params.png; <out>_vs_k.png when several k exist;
<out>_dev_curves.png, the dev score against the training step, when the runs' metrics.jsonl files are there).
A row is a (task, protocol, method, setting) group: `setting` names the config fields that differ between
runs of one (task, protocol, method) other than the seed (a learning-rate grid, another model). Scores are
the test score (the task's metrics averaged over its eval splits) in percent, mean ± sample std (ddof=1)
over the group's runs. The GLUE average of a method is the mean over GLUE tasks of its per-task means.

`--select_on_dev=train.learning_rate` keeps, per (task, protocol, method, seed and every other setting), only
the run with the best dev score over that field's values (LM-BFF's protocol; the test score is never looked
at), and reports which value won. With `--select_on_seed=13` the value is chosen on seed 13's dev scores and
fixed for the other seeds (a grid run on one seed only).
"""

import collections
from collections.abc import Iterable, Mapping, Sequence
import csv
import io
import json
import math
import os
import re

from absl import app
from absl import flags
import numpy as np

from experiments import common
from spartan_jax import metrics as metrics_lib
from spartan_jax.data import tasks as tasks_lib
from spartan_jax.models import peft

GLUE_AVG = 'GLUE avg'
REFERENCE = 'spartan'  # Paired differences are this method minus each other one.
# Config fields that never make a setting: the seed and what the row key already says.
_KEY_FIELDS = frozenset({'seed', 'task', 'method.name', 'data.protocol', 'data.k', 'data.n', 'data.split_seed'})


# Reading.


def load_records(runs_dir: str, pattern: str | None = None) -> tuple[list[dict], list[str]]:
  """(results.json dicts, each with its 'workdir' added; workdirs holding a config.json but no results.json).

  With `pattern`, only workdirs whose name matches it (re.search).
  """
  records, unfinished = [], []
  for dirpath, dirnames, filenames in os.walk(runs_dir):
    dirnames.sort()
    if pattern and ('results.json' in filenames or 'config.json' in filenames) and not re.search(
        pattern, os.path.basename(dirpath)):
      dirnames.clear()
      continue
    if 'results.json' in filenames:
      with open(os.path.join(dirpath, 'results.json')) as f:
        records.append(dict(json.load(f), workdir=dirpath))
      dirnames.clear()  # A run's checkpoints hold no results.
    elif 'config.json' in filenames:
      unfinished.append(dirpath)
      dirnames.clear()
  return records, unfinished


# Aggregation: pure functions of the records.


def _flatten(tree: Mapping, prefix: str = '') -> dict:
  flat = {}
  for key, value in tree.items():
    if isinstance(value, Mapping):
      flat.update(_flatten(value, f'{prefix}{key}.'))
    else:
      flat[f'{prefix}{key}'] = json.dumps(value, sort_keys=True)
  return flat


def protocol(record: Mapping) -> str:
  """'k=16' (LM-BFF k-shot), 'n=1000' (first n) or 'full'."""
  data = record['config']['data']
  return {'lmbff': f"k={data['k']}", 'first_n': f"n={data['n']}"}.get(record['protocol'], record['protocol'])


def _base_key(record):
  return record['task'], protocol(record), record['method']


def select_on_dev(records: Sequence[Mapping], field: str, on_seed: int | None = None) -> list[dict]:
  """Per (task, protocol, method, seed, all other config values), the run with the best dev score over `field`.

  With `on_seed`, the value is chosen once per group on that seed's runs and fixed for every seed (a grid run
  on one seed only); runs of other seeds at other values are dropped.

  Each kept record gains 'selected': {'field', 'value' (the winner), 'grid' (the values tried), 'dev' (their
  dev scores), 'on_seed'}.
  Ties go to the earlier value in sorted order. The test score is never read.

  Raises:
    ValueError: when a run has no dev score (its protocol had no dev split) or lacks `field`, or a group has no
      run of `on_seed`.
  """
  ignored = {field, 'seed', 'data.split_seed'} if on_seed is not None else {field}
  groups = collections.defaultdict(list)
  for r in records:
    flat = _flatten(r['config'])
    if field not in flat:
      raise ValueError(f"Cannot select on {field}: {r.get('workdir', r['task'])} has no such config field.")
    if r.get('best_dev_score') is None:
      raise ValueError(f"Cannot select on dev: {r.get('workdir', r['task'])} had no dev split.")
    rest = json.dumps({k: v for k, v in flat.items() if k not in ignored}, sort_keys=True)
    groups[(_base_key(r), rest)].append((json.loads(flat[field]), r))
  selected = []
  for runs in groups.values():
    runs.sort(key=lambda value_run: (value_run[0], value_run[1]['seed']))
    tried = runs if on_seed is None else [(v, r) for v, r in runs if r['seed'] == on_seed]
    if not tried:
      raise ValueError(f"Cannot choose {field} on seed {on_seed}: {runs[0][1].get('workdir', runs[0][1]['task'])} "
                       f'and its group have no run with seed {on_seed}. Run the grid on that seed, or choose per '
                       'seed (no --select_on_seed).')
    value, _ = max(tried, key=lambda value_run: value_run[1]['best_dev_score'])  # max keeps the first tie.
    choice = {'field': field, 'value': value, 'grid': [v for v, _ in tried],
              'dev': [r['best_dev_score'] for _, r in tried], 'on_seed': on_seed}
    selected += [dict(r, selected=choice) for v, r in runs if v == value]
  return selected


def dev_choices(records: Sequence[Mapping], field: str, on_seed: int) -> dict[tuple[str, str, str], dict]:
  """{(task, protocol, method): {'value': chosen on `on_seed`'s dev scores, 'grid': the values tried, ...}}.

  The choices select_on_dev(records, field, on_seed) makes, for a sweep that runs the other seeds at them.

  Raises:
    ValueError: as select_on_dev, or when runs of one (task, protocol, method) differ in another config value
      (two choices for one key).
  """
  choices = {}
  for r in select_on_dev(records, field, on_seed):
    if choices.setdefault(_base_key(r), r['selected']) != r['selected']:
      raise ValueError(f'Two {field} choices for {_base_key(r)}: its runs differ in another config value '
                       f"({r.get('workdir', r['task'])}). Give one group's runs.")
  return choices


def _selected_fields(records: Sequence[Mapping]) -> set[str]:
  return {r['selected']['field'] for r in records if 'selected' in r}


def setting_fields(records: Sequence[Mapping]) -> list[str]:
  """Config fields that differ between runs of one (task, protocol, method), the seed and selected fields aside."""
  groups = collections.defaultdict(list)
  for r in records:
    groups[_base_key(r)].append(_flatten(r['config']))
  fields = set()
  for flats in groups.values():
    for key in set().union(*flats) - _KEY_FIELDS - _selected_fields(records):
      if len({flat.get(key) for flat in flats}) > 1:
        fields.add(key)
  return sorted(fields)


def setting(record: Mapping, fields: Sequence[str]) -> str:
  """'learning_rate=0.001, checkpoint="minilm"'-style label of the record's values of `fields`."""
  flat = _flatten(record['config'])
  return ', '.join(f"{f.rsplit('.', 1)[-1]}={flat.get(f, '-')}" for f in fields)


def mean_std(values: Iterable[float]) -> tuple[float, float | None]:
  """Mean and sample standard deviation (ddof=1); std is None for fewer than two values."""
  values = np.asarray(list(values), dtype=float)
  return float(values.mean()), float(values.std(ddof=1)) if len(values) > 1 else None


def metric_values(record: Mapping) -> dict[str, float]:
  """{metric: value in %}, named 'split/metric' when the task has several eval splits."""
  test = record['test']
  return {(m if len(test) == 1 else f'{split}/{m}'): 100 * v for split, ms in test.items() for m, v in ms.items()}


def dev_curves(records: Sequence[Mapping]) -> dict[tuple[str, str], dict[str, list[tuple[int, float, int]]]]:
  """{(protocol, task): {variant: [(step, dev score in %, mean over runs; how many runs)]}}.

  Read from each run's `<workdir>/metrics.jsonl` (the `dev/score` records); runs without a workdir or without
  that file are skipped.
  A variant is a table row's method and setting, as in `summarize`.
  """
  fields = setting_fields(records)
  scores = collections.defaultdict(lambda: collections.defaultdict(list))
  for r in records:
    path = os.path.join(r['workdir'], 'metrics.jsonl') if 'workdir' in r else None
    if not (path and os.path.exists(path)):
      continue
    variant = _variant({'method': r['method'], 'setting': setting(r, fields)})
    with open(path) as f:
      for line in f:
        entry = json.loads(line)
        if 'dev/score' in entry:
          scores[(protocol(r), r['task']), variant][entry['step']].append(100 * entry['dev/score'])
  curves = collections.defaultdict(dict)
  for (panel, variant), by_step in scores.items():
    curves[panel][variant] = [(step, float(np.mean(v)), len(v)) for step, v in sorted(by_step.items())]
  return dict(curves)


def backbone_params(records: Sequence[Mapping]) -> dict[str, int]:
  """{model checkpoint: the smallest total parameter count among its runs of methods that add no modules}."""
  sizes = collections.defaultdict(list)
  for r in records:
    if r['method'] in peft.METHODS and not peft.METHODS[r['method']].adds_modules:
      sizes[r['config']['model']['checkpoint']].append(r['params']['trainable'] + r['params']['frozen'])
  return {model: min(s) for model, s in sizes.items()}


def protocol_key(proto: str):
  """Sorts k-shot by k, then first-n by n, then full."""
  kind, _, size = proto.partition('=')
  return ({'k': 0, 'n': 1}.get(kind, 2), int(size) if size.isdigit() else 0, proto)


def _task_key(task):
  """GLUE tasks in GLUE's order, then the others by name, then the GLUE average."""
  order = list(tasks_lib.GLUE_TASKS) + sorted(tasks_lib.TASKS)
  return order.index(task) if task in order else len(order) + (task == GLUE_AVG)


def _sort_key(row):
  method, methods = row['method'], list(peft.METHODS)
  return (protocol_key(row['protocol']), _task_key(row['task']),
          methods.index(method) if method in methods else len(methods), method, row['setting'])


def _dev_at(runs: Sequence[Mapping]) -> dict:
  """{value tried: [(seed, its dev score in %)]} for each seed that chose: the `on_seed`, or every seed."""
  dev_at = collections.defaultdict(list)
  for r in runs:
    choice = r.get('selected')
    if choice and choice['on_seed'] in (None, r['seed']):
      for value, score in zip(choice['grid'], choice['dev']):
        dev_at[value].append((r['seed'], 100 * score))
  return dict(dev_at)


def summarize(records: Sequence[Mapping]) -> list[dict]:
  """One row per (task, protocol, method, setting): scores in %, mean ± sample std over the runs."""
  fields = setting_fields(records)
  backbones = backbone_params(records)
  groups = collections.defaultdict(list)
  for r in records:
    groups[_base_key(r) + (setting(r, fields),)].append(r)
  rows = []
  for (task, proto, method, label), runs in groups.items():
    runs = sorted(runs, key=lambda r: r['seed'])
    per_metric = collections.defaultdict(list)
    for r in runs:
      for name, value in metric_values(r).items():
        per_metric[name].append(value)
    trainable = float(np.mean([r['params']['trainable'] for r in runs]))
    backbone = backbones.get(runs[0]['config']['model']['checkpoint'])
    rows.append({
        'task': task, 'protocol': proto, 'k': runs[0]['config']['data'].get('k'), 'method': method,
        'setting': label, 'n': len(runs), 'seeds': [r['seed'] for r in runs],
        'score': mean_std(100 * r['test_score'] for r in runs),
        'metrics': {name: mean_std(v) for name, v in per_metric.items()},
        'train_seconds': float(np.mean([r['seconds']['train'] for r in runs])),
        'trainable': trainable,
        'total_params': float(np.mean([r['params']['trainable'] + r['params']['frozen'] for r in runs])),
        'pct_backbone': 100 * trainable / backbone if backbone else None,
        'delta_bytes': float(np.mean([r['delta_bytes'] for r in runs])),
        'selected': [r['selected']['value'] for r in runs if 'selected' in r],
        'tried': sorted({v for r in runs if 'selected' in r for v in r['selected']['grid']}),
        'dev_at': _dev_at(runs),
    })
  return sorted(rows, key=_sort_key)


def glue_average(rows: Sequence[Mapping]) -> list[dict]:
  """Per (protocol, method, setting): the mean over GLUE tasks of the per-task mean scores.

  Only for protocols with at least two GLUE tasks. 'tasks' lists the tasks averaged; a method that lacks
  some of the protocol's GLUE tasks gets `complete=False`. Std is None: seeds are not paired across tasks.
  """
  glue = [r for r in rows if r['task'] in tasks_lib.GLUE_TASKS]
  tasks_per_protocol = collections.defaultdict(set)
  for r in glue:
    tasks_per_protocol[r['protocol']].add(r['task'])
  groups = collections.defaultdict(list)
  for r in glue:
    if len(tasks_per_protocol[r['protocol']]) >= 2:
      groups[(r['protocol'], r['method'], r['setting'])].append(r)
  averages = []
  for (proto, method, label), task_rows in groups.items():
    mean = lambda key: float(np.mean([r[key] for r in task_rows]))
    pcts = [r['pct_backbone'] for r in task_rows]
    averages.append({
        'task': GLUE_AVG, 'protocol': proto, 'k': task_rows[0]['k'], 'method': method, 'setting': label,
        'n': len(task_rows), 'tasks': [r['task'] for r in task_rows],
        'complete': {r['task'] for r in task_rows} == tasks_per_protocol[proto],
        'seeds': [], 'score': (metrics_lib.glue_average({r['task']: r['score'][0] for r in task_rows}), None),
        'metrics': {}, 'train_seconds': mean('train_seconds'), 'trainable': mean('trainable'),
        'total_params': mean('total_params'), 'pct_backbone': None if None in pcts else float(np.mean(pcts)),
        'delta_bytes': mean('delta_bytes'), 'selected': [],
    })
  return sorted(averages, key=_sort_key)


def paired_differences(records: Sequence[Mapping], reference: str = REFERENCE) -> list[dict]:
  """`reference` − each other method, in points, paired by (protocol, task, seed): the same split.

  One dict per (protocol, method, setting) with 'tasks' {task: (mean, std, n)} and, over the seeds that
  have every task, 'avg' (mean ± std over seeds of the per-seed mean over tasks) and 'avg_classification'
  (the same without regression tasks; None unless both kinds are present). Empty when the reference has
  several settings (which one to pair with would be a guess).
  """
  fields = setting_fields(records)
  scores = {(protocol(r), r['method'], setting(r, fields), r['task'], r['seed']): 100 * r['test_score']
            for r in records}
  reference_settings = {(p, label) for p, m, label, _, _ in scores if m == reference}
  if len(reference_settings) != len({p for p, _ in reference_settings}):
    return []
  ref = {(p, t, seed): v for (p, m, _, t, seed), v in scores.items() if m == reference}
  diffs = collections.defaultdict(dict)  # (protocol, method, setting) -> {(task, seed): difference}
  for (p, m, label, t, seed), v in scores.items():
    if m != reference and (p, t, seed) in ref:
      diffs[(p, m, label)][(t, seed)] = ref[(p, t, seed)] - v
  rows = []
  for (proto, method, label), d in diffs.items():
    tasks = sorted({t for t, _ in d}, key=_task_key)
    seeds = sorted({seed for _, seed in d if all((t, seed) in d for t in tasks)})
    per_task = {t: mean_std([v for (task, _), v in d.items() if task == t]) + (sum(task == t for task, _ in d),)
                for t in tasks}
    classification = [t for t in tasks if not (t in tasks_lib.TASKS and tasks_lib.get_task(t).is_regression)]
    average = lambda ts: mean_std([np.mean([d[(t, seed)] for t in ts]) for seed in seeds]) if seeds else None
    rows.append({'protocol': proto, 'method': method, 'setting': label, 'tasks': per_task,
                 'avg': average(tasks) if len(tasks) > 1 else None,
                 'avg_classification': average(classification) if 1 < len(classification) < len(tasks) else None,
                 'seeds': seeds})
  return sorted(rows, key=lambda r: _sort_key({**r, 'task': ''}))


def _short_commit(commit: str | None) -> str:
  if not commit:
    return 'not recorded'  # Runs from before results.json named it, or from outside a git checkout.
  return commit[:7] + ('-dirty' if commit.endswith('-dirty') else '')


def budget(records: Sequence[Mapping]) -> dict[str, dict[str, list]]:
  """{protocol: {what: sorted distinct values}}: the training budget read from the runs' configs, and the
  commits the runs came from (results.json's `commit`)."""
  values = collections.defaultdict(lambda: collections.defaultdict(set))
  for r in records:
    t, proto = r['config']['train'], protocol(r)
    for what, value in (('model', r['config']['model']['checkpoint']), ('steps', r['total_steps']),
                        ('batch size', t['batch_size']), ('learning rate', t['learning_rate']),
                        ('warmup ratio', t['warmup_ratio']), ('weight decay', t['weight_decay']),
                        ('eval every', t['eval_every']), ('max length', r['config']['data']['max_length']),
                        ('commit', _short_commit(r.get('commit')))):
      values[proto][what].add(value)
  return {p: {w: sorted(v, key=str) for w, v in d.items()} for p, d in values.items()}


# Rendering.


def _pm(mean_and_std, digits: int = 1) -> str:
  mean, std = mean_and_std
  return f'{mean:.{digits}f}' + (f' ± {std:.{digits}f}' if std is not None else '')


def _num(x, digits=0) -> str:
  return '' if x is None else f'{x:,.{digits}f}'


def _task_label(row):
  return row['task'] if row['task'] != GLUE_AVG or row['complete'] else f"{GLUE_AVG} ({', '.join(row['tasks'])})"


def _winners(row: Mapping, grid: Sequence) -> str:
  """The row's dev-chosen values in seed order, plus the values its group tried if not all of `grid`."""
  winners = ' '.join(map(str, row['selected']))
  return winners if row['tried'] == list(grid) else f"{winners} (of {', '.join(map(str, row['tried']))})"


def _dev_cell(row: Mapping, value) -> str:
  """The row's dev scores at `value`, one per choosing seed, bold where that seed chose it."""
  chosen = dict(zip(row['seeds'], row['selected']))
  scores = row['dev_at'].get(value, [])
  return ' / '.join(f'**{x:.1f}**' if chosen[seed] == value else f'{x:.1f}' for seed, x in scores)


def to_markdown(rows: Sequence[Mapping], averages: Sequence[Mapping], records: Sequence[Mapping], command: str,
                unfinished: Sequence[str] = (), plots: Sequence[str] = (), title: str = 'Results') -> str:
  """The report: the command, the budget, a task × method table per protocol, then every row in full."""
  runs = f'{len(records)} runs (results.json)'
  if unfinished:
    runs += f'; {len(unfinished)} unfinished workdirs left out'
  lines = [f'# {title}', '', 'Made by:', '', f'    {command}', '',
           f"{runs}. Test = the task's eval split(s) (the GLUE dev sets), scored with the checkpoint that did "
           'best on the dev split.', '', "**Budget** (from the runs' records):", '']
  for proto, what in sorted(budget(records).items(), key=lambda item: protocol_key(item[0])):
    lines.append(f'- {proto}: ' + '; '.join(f"{w} {', '.join(map(str, v))}" for w, v in what.items()))
  has_settings = any(r['setting'] for r in rows)
  for proto in sorted({r['protocol'] for r in rows}, key=protocol_key):
    proto_rows = [r for r in rows if r['protocol'] == proto] + [a for a in averages if a['protocol'] == proto]
    tasks = list(dict.fromkeys(r['task'] for r in proto_rows))
    variants = list(dict.fromkeys((r['method'], r['setting']) for r in sorted(proto_rows, key=_sort_key)))
    cell = {(r['method'], r['setting'], r['task']): r for r in proto_rows}
    lines += ['', f'## {proto}: test score (%), mean ± sample std (ddof=1) over seeds', '',
              '| method |' + (' setting |' if has_settings else '') + ''.join(f' {t} |' for t in tasks),
              '|---|' + ('---|' if has_settings else '') + '---:|' * len(tasks)]
    for method, label in variants:
      cells = []
      for t in tasks:
        r = cell.get((method, label, t))
        cells.append('' if r is None else _pm(r['score']) + ('' if t == GLUE_AVG else f" (n={r['n']})")
                     + ('' if t != GLUE_AVG or r['complete'] else f" ({', '.join(r['tasks'])} only)"))
      lines.append(f'| {method} |' + (f' {label} |' if has_settings else '') + ''.join(f' {c} |' for c in cells))
  selected = sorted(_selected_fields(records))
  for proto in sorted({r['protocol'] for r in rows if r['selected']}, key=protocol_key):
    proto_rows = [r for r in rows if r['protocol'] == proto and r['selected']]
    tasks = list(dict.fromkeys(r['task'] for r in proto_rows))
    chosen = [r['selected'] for r in records if protocol(r) == proto and 'selected' in r]
    grid = sorted({v for c in chosen for v in c['grid']})
    on_seeds = sorted({c['on_seed'] for c in chosen} - {None})
    how = f"on seed {', '.join(map(str, on_seeds))}'s dev split, fixed for every seed" if on_seeds else 'per seed'
    lines += ['', f"## {proto}: {', '.join(selected)} chosen on dev, {how}", '',
              f"Values tried: {', '.join(map(str, grid))}. Each run group kept the value whose run had the best "
              'dev score; the cell lists the winners in seed order, and the values its group tried where they '
              'are fewer.', '',
              '| method |' + (' setting |' if has_settings else '') + ''.join(f' {t} |' for t in tasks),
              '|---|' + ('---|' if has_settings else '') + '---|' * len(tasks)]
    cell = {(r['method'], r['setting'], r['task']): r for r in proto_rows}
    for method, label in dict.fromkeys((r['method'], r['setting']) for r in proto_rows):
      cells = [_winners(cell[(method, label, t)], grid) if (method, label, t) in cell else '' for t in tasks]
      lines.append(f'| {method} |' + (f' {label} |' if has_settings else '') + ''.join(f' {c} |' for c in cells))
    lines += ['', f"Dev score (%) at each value ({'the choosing seed' if on_seeds else 'each seed in order'}; "
              'chosen in bold):', '',
              '| task | method |' + (' setting |' if has_settings else '') + ''.join(f' {v} |' for v in grid),
              '|---|---|' + ('---|' if has_settings else '') + '---:|' * len(grid)]
    for r in proto_rows:
      cells = [_dev_cell(r, v) for v in grid]
      lines.append(f"| {r['task']} | {r['method']} |" + (f" {r['setting']} |" if has_settings else '')
                   + ''.join(f' {c} |' for c in cells))
  paired = paired_differences(records)
  for proto in sorted({r['protocol'] for r in paired}, key=protocol_key):
    proto_rows = [r for r in paired if r['protocol'] == proto]
    tasks = sorted({t for r in proto_rows for t in r['tasks']}, key=_task_key)
    extra = [('avg', 'avg'), ('avg_classification', 'avg w/o regression')]
    extra = [(key, name) for key, name in extra if any(r[key] for r in proto_rows)]
    lines += ['', f'## {proto}: {REFERENCE} − method, paired by seed (points), mean ± sample std over seeds', '',
              'Each difference compares two runs on the same split. avg: the per-seed mean over tasks, then mean '
              '± std over the seeds that have every task.', '',
              '| method |' + (' setting |' if has_settings else '') + ''.join(f' {t} |' for t in tasks)
              + ''.join(f' {name} |' for _, name in extra),
              '|---|' + ('---|' if has_settings else '') + '---:|' * (len(tasks) + len(extra))]
    for r in proto_rows:
      cells = [f"{_pm(r['tasks'][t][:2])} (n={r['tasks'][t][2]})" if t in r['tasks'] else '' for t in tasks]
      cells += [_pm(r[key]) if r[key] else '' for key, _ in extra]
      lines.append(f"| {r['method']} |" + (f" {r['setting']} |" if has_settings else '')
                   + ''.join(f' {c} |' for c in cells))
  lines += ['', '## All rows', '',
            'Scores and metrics in %, mean ± sample std (ddof=1) over seeds; GLUE avg = mean over tasks of the '
            'per-task means (no std). Train s = mean training wall time per run (evaluation excluded). '
            '% of backbone = trainable / total params of a run that adds no modules (head_only, bitfit or full) '
            'on the same checkpoint; blank when the sweep has none.', '',
            '| task | protocol | method | setting | n | score | metrics | train s | trainable params '
            '| % of backbone | delta bytes |',
            '|---|---|---|---|---:|---:|---|---:|---:|---:|---:|']
  for r in list(rows) + list(averages):
    metrics = '; '.join(f'{m} {_pm(v)}' for m, v in r['metrics'].items())
    lines.append(f"| {_task_label(r)} | {r['protocol']} | {r['method']} | {r['setting']} | {r['n']} "
                 f"| {_pm(r['score'])} | {metrics} | {_num(r['train_seconds'], 1)} | {_num(r['trainable'])} "
                 f"| {_num(r['pct_backbone'], 3)} | {_num(r['delta_bytes'])} |")
  if plots:
    lines += [''] + [f'![{os.path.basename(p)}]({os.path.basename(p)})' for p in plots]
  return '\n'.join(lines) + '\n'


def to_csv(rows: Sequence[Mapping], averages: Sequence[Mapping] = ()) -> str:
  """Every row, one metric per pair of columns (<metric>_mean, <metric>_std; std is sample std, ddof=1)."""
  all_rows = list(rows) + list(averages)
  metric_names = list(dict.fromkeys(m for r in all_rows for m in r['metrics']))
  header = (['task', 'protocol', 'method', 'setting', 'n', 'seeds', 'score_mean', 'score_std']
            + [f'{m}_{s}' for m in metric_names for s in ('mean', 'std')]
            + ['train_seconds_mean', 'trainable_params', 'total_params', 'pct_backbone', 'delta_bytes',
               'selected_on_dev'])
  fmt = lambda x: '' if x is None else round(x, 4) if isinstance(x, float) else x
  out = io.StringIO()
  writer = csv.writer(out, lineterminator='\n')
  writer.writerow(header)
  for r in all_rows:
    metrics = [fmt(v) for m in metric_names for v in r['metrics'].get(m, (None, None))]
    writer.writerow([_task_label(r), r['protocol'], r['method'], r['setting'], r['n'],
                     ' '.join(map(str, r['seeds'] or r.get('tasks', []))), fmt(r['score'][0]), fmt(r['score'][1]),
                     *metrics, fmt(r['train_seconds']), fmt(r['trainable']), fmt(r['total_params']),
                     fmt(r['pct_backbone']), fmt(r['delta_bytes']), ' '.join(map(str, r['selected']))])
  return out.getvalue()


def _variant(row):
  return row['method'] + (f" ({row['setting']})" if row['setting'] else '')


def _subplots(count):
  plt = common.pyplot()
  cols = min(count, 3)
  fig, axes = plt.subplots(math.ceil(count / cols), cols, figsize=(4.5 * cols, 3.6 * math.ceil(count / cols)),
                           squeeze=False)
  for ax in axes.flat[count:]:
    ax.set_visible(False)
  return plt, fig, list(axes.flat)


def _colors(rows):
  variants = dict.fromkeys(_variant(r) for r in sorted(rows, key=_sort_key))
  return {v: f'C{i % 10}' for i, v in enumerate(variants)}


def _save(plt, fig, axes, path):
  """One legend (every variant, in the first panel), then the PNG."""
  common.shared_legend(axes, fontsize='small')
  fig.tight_layout()
  fig.savefig(path, dpi=120)
  plt.close(fig)
  return path


def plot_vs_k(rows: Sequence[Mapping], path: str) -> str | None:
  """Score vs k, one panel per task, a line per method; None (no file) unless there are several k."""
  kshot = [r for r in rows if r['protocol'].startswith('k=')]
  if len({r['k'] for r in kshot}) < 2:
    return None
  tasks = list(dict.fromkeys(r['task'] for r in sorted(kshot, key=_sort_key)))
  ks = sorted({r['k'] for r in kshot})
  plt, fig, axes = _subplots(len(tasks))
  colors = _colors(kshot)
  for ax, task in zip(axes, tasks):
    lines = collections.defaultdict(list)
    for r in kshot:
      if r['task'] == task:
        lines[_variant(r)].append(r)
    for label, line in lines.items():
      line.sort(key=lambda r: r['k'])
      ax.errorbar([r['k'] for r in line], [r['score'][0] for r in line], yerr=[r['score'][1] or 0 for r in line],
                  marker='o', capsize=3, color=colors[label], label=label)
    ax.set(title=task, xscale='log', xlabel='k (examples per class)', ylabel='test score (%)')
    ax.minorticks_off()
    ax.set_xticks(ks, labels=[str(k) for k in ks])
    ax.grid(alpha=.3)
  return _save(plt, fig, axes, path)


def plot_vs_params(rows: Sequence[Mapping], path: str) -> str | None:
  """Score vs trainable parameters (log x), one panel per (protocol, task); None when there are no rows."""
  panels = list(dict.fromkeys((r['protocol'], r['task']) for r in sorted(rows, key=_sort_key)))
  if not panels:
    return None
  plt, fig, axes = _subplots(len(panels))
  colors = _colors(rows)
  for ax, (proto, task) in zip(axes, panels):
    for r in rows:
      if (r['protocol'], r['task']) == (proto, task):
        ax.errorbar([r['trainable']], [r['score'][0]], yerr=[r['score'][1] or 0], marker='o', capsize=3,
                    color=colors[_variant(r)], label=_variant(r))
    ax.set(title=f'{task}, {proto}', xscale='log', xlabel='trainable parameters', ylabel='test score (%)')
    ax.grid(alpha=.3)
  return _save(plt, fig, axes, path)


def plot_dev_curves(curves: Mapping, rows: Sequence[Mapping], path: str) -> str | None:
  """Dev score vs step, one panel per (protocol, task), a line per variant (colours as in the other plots)."""
  panels = [p for p in dict.fromkeys((r['protocol'], r['task']) for r in rows) if p in curves]
  if not panels:
    return None
  plt, fig, axes = _subplots(len(panels))
  colors = _colors(rows)
  for ax, (proto, task) in zip(axes, panels):
    for variant, points in curves[(proto, task)].items():
      ax.plot([p[0] for p in points], [p[1] for p in points], marker='.', color=colors[variant], label=variant)
    ax.set(title=f'{task}, {proto}', xlabel='training step', ylabel='dev score (%), mean over seeds')
    ax.grid(alpha=.3)
  return _save(plt, fig, axes, path)


def write_report(records, unfinished, out: str, command: str, select_field: str | None = None,
                 select_on_seed: int | None = None) -> list[str]:
  """Writes <out>.md, <out>.csv and the plots; returns the paths written."""
  if not records:
    raise ValueError('No results.json found.')
  if select_field:
    records = select_on_dev(records, select_field, select_on_seed)
  os.makedirs(os.path.dirname(out) or '.', exist_ok=True)
  rows = summarize(records)
  averages = glue_average(rows)
  plots = [p for p in (plot_vs_k(rows, f'{out}_vs_k.png'),
                       plot_vs_params(rows + averages, f'{out}_vs_params.png'),
                       plot_dev_curves(dev_curves(records), rows, f'{out}_dev_curves.png')) if p]
  with open(f'{out}.md', 'w') as f:
    f.write(to_markdown(rows, averages, records, command, unfinished, plots, os.path.basename(out)))
  with open(f'{out}.csv', 'w') as f:
    f.write(to_csv(rows, averages))
  return [f'{out}.md', f'{out}.csv', *plots]


def define_flags():
  """Defined only when run as a script: experiments.sweep, imported beside it, has its own --filter."""
  flags.DEFINE_list('runs', None, 'Folders (comma-separated); every results.json below them is read.')
  flags.DEFINE_string('filter', None, "Only runs whose workdir's name matches this regex (re.search).")
  flags.DEFINE_string('out', None, 'Output path without extension: <out>.md, <out>.csv, <out>_*.png.')
  flags.DEFINE_string('select_on_dev', None, 'A config field (e.g. train.learning_rate): per run group, keep the '
                      'value whose run has the best dev score.')
  flags.DEFINE_integer('select_on_seed', None, 'With --select_on_dev: choose the value on this seed\'s runs and '
                       'fix it for every seed (a grid run on one seed only). Default: each seed chooses.')


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f'Unexpected arguments: {argv[1:]}')
  records, unfinished = [], []
  f = flags.FLAGS
  for runs_dir in f.runs:
    found, partial = load_records(runs_dir, f.filter)
    records, unfinished = records + found, unfinished + partial
  if not records:
    raise app.UsageError(f'No results.json under {f.runs}' + (f' matching {f.filter!r}.' if f.filter
                                                                    else '.'))
  command = common.command_line('experiments.report')
  if f.select_on_seed is not None and not f.select_on_dev:
    raise app.UsageError('--select_on_seed needs --select_on_dev (the field to choose).')
  for path in write_report(records, unfinished, f.out, command, f.select_on_dev, f.select_on_seed):
    print(path)


if __name__ == '__main__':
  define_flags()
  flags.mark_flags_as_required(['runs', 'out'])
  app.run(main)
