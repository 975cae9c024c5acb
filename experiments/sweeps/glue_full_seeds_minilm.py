r"""Full-data GLUE on MiniLM, 3 epochs: seeds 21 and 42 at the lr each (task, method) chose on seed 13.

  python -m experiments.sweep --sweep=experiments/sweeps/glue_full_seeds_minilm.py --root=experiments/runs run --workers=2
  python -m experiments.report \
      --runs=experiments/runs/glue_full_3epochs_minilm,experiments/runs/glue_full_lr_minilm,experiments/runs/glue_full_seeds_minilm \
      --select_on_dev=train.learning_rate --select_on_seed=13 --out=experiments/results/glue_full_lr_minilm

The last stage of the issue's protocol (the grid run on one seed, the choice fixed for the others). Seed 13
runs every lr of the grid: glue_full_3epochs_minilm.py the defaults, glue_full_lr_minilm.py the rest and, where
the dev-best lr is at the grid's edge, the lr beyond it (experiments/lr_grid.py). The choice is the report's
(experiments.report.dev_choices: the best score on seed 13's held-out dev split; the test score is never
read). A (task, method) gets its two jobs once its choice is final; until then every command prints it as
waiting. The seed-13 runs are read from experiments/runs next to this folder, whatever --root says. 56 runs
when every choice is made, about 15.5 h with two workers.
seconds_per_job: as glue_full_3epochs_minilm.py (two workers, 2-core CPU).
"""

from experiments import lr_grid


def grid_and_waiting(runs=lr_grid.RUNS):
  """(grids of the (task, method)s whose seed-13 lr choice is final, at that lr; lines for the others)."""
  grid, waiting = [], []
  for (task, method), group in lr_grid.status(runs).items():
    if group['choice'] is None:
      waiting.append(f"{task}-{method}: seed 13 has run lr {group['done'] or 'none'}, still needs {group['needed']}")
    else:
      grid.append(lr_grid.jobs(task, method, [21, 42], group['choice']))
  return grid, waiting


_GRID, _WAITING = grid_and_waiting()
SWEEP = dict(
    name='glue_full_seeds_minilm',
    overrides=['--config.data.glue_dir=../shared/data/glue'],
    grid=_GRID,
    waiting=_WAITING,
    seconds_per_job=2000,
)
