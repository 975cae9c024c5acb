r"""Full-data GLUE on MiniLM, 3 epochs: seeds 21 and 42 at the lr each (task, method) chose on seed 13.

  python -m experiments.sweep --sweep=experiments/sweeps/glue_full_seeds_minilm.py --root=experiments/runs run --workers=2
  python -m experiments.report \
      --runs=experiments/runs/glue_full_3epochs_minilm,experiments/runs/glue_full_lr_minilm,experiments/runs/glue_full_seeds_minilm \
      --select_on_dev=train.learning_rate --select_on_seed=13 --out=experiments/results/glue_full_lr_minilm

The second stage of the issue's protocol (the grid run on one seed, the choice fixed for the others). Seed 13
runs every lr of the grid: glue_full_3epochs_minilm.py the defaults, glue_full_lr_minilm.py the rest. The
choice is the report's (experiments.report.dev_choices: the best score on seed 13's held-out dev split; the
test score is never read). A (task, method) gets its two jobs once its seed-13 runs at every lr of the grid
are done, so the choice is final; until then every command prints it as waiting. The seed-13 runs are
read from experiments/runs next to this folder, whatever --root says. 56 runs when every choice is made,
about 15.5 h with two workers.
seconds_per_job: as glue_full_3epochs_minilm.py (two workers, 2-core CPU).
"""

import os

from experiments import report

_RUNS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), 'runs')
_SEED_13_SWEEPS = ('glue_full_3epochs_minilm', 'glue_full_lr_minilm')
_TASKS = ['stsb', 'mrpc', 'rte', 'cola']
_METHODS = ['spartan', 'houlsby', 'pfeiffer', 'lora', 'bitfit', 'head_only', 'full']
_LR_GRIDS = {'full': (1e-5, 3e-5, 1e-4)}
_PEFT_LR_GRID = (3e-4, 1e-3, 3e-3)


def grid_and_waiting(runs=_RUNS):
  """(grids of the (task, method)s whose seed-13 lr grid is done, at the chosen lr; lines for the others)."""
  records = [r for name in _SEED_13_SWEEPS for r in report.load_records(os.path.join(runs, name))[0]]
  choices = report.dev_choices(records, 'train.learning_rate', on_seed=13) if records else {}
  grid, waiting = [], []
  for task in _TASKS:
    for method in _METHODS:
      lrs = _LR_GRIDS.get(method, _PEFT_LR_GRID)
      choice = choices.get((task, 'full', method))
      done = set(choice['grid']) & set(lrs) if choice else set()
      if done == set(lrs):
        grid.append({'task': task, 'method': method, 'seed': [21, 42], 'model': 'minilm', 'train.num_epochs': 3,
                     'train.eval_every': 100, 'train.learning_rate': choice['value']})
      else:
        waiting.append(f'{task}-{method}: seed 13 has run lr {sorted(done) or "none"} of {list(lrs)}')
  return grid, waiting


_GRID, _WAITING = grid_and_waiting()
SWEEP = dict(
    name='glue_full_seeds_minilm',
    overrides=['--config.data.glue_dir=../shared/data/glue'],
    grid=_GRID,
    waiting=_WAITING,
    seconds_per_job=2000,
)
