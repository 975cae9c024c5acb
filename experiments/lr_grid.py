"""The lr grids on MiniLM: what each group has run, still needs, and chose on dev.

The grid is the middle three rungs of a ladder: 3e-4, 1e-3, 3e-3 for the parameter-efficient methods, 1e-5,
3e-5, 1e-4 for full fine-tuning. When seed 13's dev-best lr is the lowest or the highest lr run so far, the
rung beyond it runs too (unless it only ties its neighbour), so a choice is final only when a lower and a
higher lr did no better on dev or it sits at the ladder's end (1e-4 or 1e-1; 3e-6 or 3e-4). The ladder climbs
to 1e-1 because the linear head alone (head_only) was still improving at 1e-2. The choice is
report.dev_choices's: the test score is never read. glue_full_3epochs_minilm.py runs the default rung,
glue_full_lr_minilm.py the rest of the grid, glue_full_seeds_minilm.py the other seeds at the choices; all
three build their jobs with `grid` or `jobs` here. The few-shot sweeps (fewshot_lr_minilm.py,
fewshot_vs_k_minilm.py) choose per seed instead, as LM-BFF does, by the same rule (`per_seed_edges`).
"""

import os
from typing import Mapping, Sequence

from experiments import report

RUNS = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'runs')
SEED_13_SWEEPS = ('glue_full_3epochs_minilm', 'glue_full_lr_minilm')
TASKS = ('stsb', 'mrpc', 'rte', 'cola')
METHODS = ('spartan', 'houlsby', 'pfeiffer', 'lora', 'bitfit', 'head_only', 'full')
PEFT_LADDER = (1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 1e-1)
FULL_LADDER = (3e-6, 1e-5, 3e-5, 1e-4, 3e-4)
DEFAULT_RUNG, GRID_RUNGS = 2, (1, 2, 3)  # Indices into a ladder: the default lr (1e-3; 3e-5) and the grid.
RECIPE = {'model': 'minilm', 'train.num_epochs': 3, 'train.eval_every': 100}  # Every run of the three sweeps.


def ladder(method: str) -> tuple[float, ...]:
  return FULL_LADDER if method == 'full' else PEFT_LADDER


def jobs(task, method, seed, lr) -> dict:
  """One sweep grid: `task` x `method` x `seed` x `lr` (each one value or a list), with RECIPE."""
  return dict(task=task, method=method, seed=seed, **RECIPE, **{'train.learning_rate': lr})


def grid(tasks: Sequence[str], methods: Sequence[str], seed, rungs: Sequence[int]) -> list[dict]:
  """Sweep grids: `tasks` x `methods` x `seed` (one or a list) at the ladder rungs `rungs`."""
  by_ladder = {}
  for method in methods:
    by_ladder.setdefault(ladder(method), []).append(method)
  return [jobs(list(tasks), group, seed, [lrs[i] for i in rungs]) for lrs, group in by_ladder.items()]


def still_needed(lrs: Sequence[float], dev: Mapping[float, float], chosen: float | None) -> list[float]:
  """The lrs of ladder `lrs` to run before `chosen`, the dev-best of the lrs run (`dev`: lr -> dev score), is
  final; [] when it is. A choice at an edge that only ties its neighbour (CoLA's MCC 0 everywhere) is final."""
  missing = [lrs[i] for i in GRID_RUNGS if lrs[i] not in dev]
  if missing:
    return missing
  done, i = sorted(dev), lrs.index(chosen)
  if chosen == done[0] and i > 0 and dev[chosen] > dev[done[1]]:
    return [lrs[i - 1]]
  if chosen == done[-1] and i < len(lrs) - 1 and dev[chosen] > dev[done[-2]]:
    return [lrs[i + 1]]
  return []


def grid_lrs(method: str) -> list[float]:
  """The grid's lrs for `method`: its ladder at GRID_RUNGS."""
  return [ladder(method)[i] for i in GRID_RUNGS]


def beyond_grid(method: str, needed: Sequence[float]) -> list[float]:
  """Of still_needed's lrs, those past the grid's edges (the runs a grid sweep adds on its own)."""
  return [lr for lr in needed if lr not in grid_lrs(method)]


def status(runs: str = RUNS) -> dict[tuple[str, str], dict]:
  """{(task, method): {'done': lrs run on seed 13, 'needed': lrs still to run, 'choice': final lr or None}}."""
  records = [r for name in SEED_13_SWEEPS for r in report.load_records(os.path.join(runs, name))[0]]
  choices = report.dev_choices(records, 'train.learning_rate', on_seed=13) if records else {}
  groups = {}
  for task in TASKS:
    for method in METHODS:
      choice = choices.get((task, 'full', method))
      dev = dict(zip(choice['grid'], choice['dev'])) if choice else {}
      needed = still_needed(ladder(method), dev, choice and choice['value'])
      groups[(task, method)] = {'done': sorted(dev), 'needed': needed, 'choice': None if needed else choice['value']}
  return groups


def per_seed_edges(records: Sequence[Mapping]) -> list[tuple[Mapping, list[float]]]:
  """(record, lrs) for each (task, protocol, method, seed) of `records` whose per-seed dev choice asked or asks
  for lrs beyond the grid's edge: those already run and those still needed, so a sweep keeps listing them."""
  edges = []
  for r in report.select_on_dev(records, 'train.learning_rate') if records else []:
    chosen = r['selected']  # One record per group: a group's runs differ only in the lr.
    needed = still_needed(ladder(r['method']), dict(zip(chosen['grid'], chosen['dev'])), chosen['value'])
    if beyond := beyond_grid(r['method'], sorted(chosen['grid']) + needed):
      edges.append((r, beyond))
  return edges
