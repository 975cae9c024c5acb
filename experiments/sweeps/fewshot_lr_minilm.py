r"""LM-BFF 16-shot, five GLUE tasks, every method, MiniLM with its own (mean) pooling, a learning-rate grid.

  python -m experiments.sweep --sweep=experiments/sweeps/fewshot_lr_minilm.py --root=experiments/runs run --workers=2
  python -m experiments.report --runs=experiments/runs/fewshot_lr_minilm --out=experiments/results/fewshot_lr_minilm \
      --select_on_dev=train.learning_rate

The rerun of fewshot_all_minilm.py after pooling began to follow the checkpoint (`model.pooling=auto`: mean
pooling for all-MiniLM-L6-v2). Same budget: 60 steps x batch 16, eval on the k-shot dev set every 10 steps,
best dev checkpoint, test = the GLUE dev set. Learning rates: parameter-efficient methods {3e-4, 1e-3, 3e-3},
full fine-tuning {1e-5, 3e-5, 1e-4}; the report picks per (task, method, seed) the lr with the best dev score
(LM-BFF's protocol). Jobs are ordered so that partial results are useful: first the default lr (1e-3; full
3e-5) task by task, every method and seed of a task together, in the order SST-2, STS-B, MRPC, CoLA, RTE (its
128-token pairs make it the slowest task, and every method was at chance on it before); then the other lrs
seed by seed. 315 runs, and one more for each (task, method, seed) whose dev-best lr is at an edge of the grid:
the next rung of experiments/lr_grid.py's ladder, by its rule, listed once that seed's three lrs have run. The
runs are read from experiments/runs next to this folder, whatever --root says.
"""

import os

from experiments import lr_grid
from experiments import report

_TASKS = ['sst2', 'stsb', 'mrpc', 'cola', 'rte']
_PEFT = ['spartan', 'houlsby', 'pfeiffer', 'lora', 'bitfit', 'head_only']
_SEEDS = [13, 21, 42]  # Three of LM-BFF's five split seeds.


def _grid(tasks, methods, seed, lrs):
  return dict(task=tasks, method=methods, k=16, seed=seed, model='minilm', **{'train.learning_rate': lrs})


def _grids(seed, peft_lrs, full_lrs, tasks=_TASKS):
  return [_grid(tasks, _PEFT, seed, peft_lrs), _grid(tasks, 'full', seed, full_lrs)]


def edge_grid(runs=lr_grid.RUNS):
  """Runs beyond the grid's edge that the per-seed dev choices asked or ask for (LM-BFF chooses the lr per
  seed). Runs already made stay listed, so `status` counts them."""
  records = report.load_records(os.path.join(runs, 'fewshot_lr_minilm'))[0]
  return [_grid(r['task'], r['method'], r['seed'], lrs) for r, lrs in lr_grid.per_seed_edges(records)]


SWEEP = dict(
    name='fewshot_lr_minilm',
    overrides=['--config.data.glue_dir=../shared/data/glue'],
    grid=([g for task in _TASKS for seed in _SEEDS for g in _grids(seed, [1e-3], [3e-5], [task])]
          + [g for seed in _SEEDS for g in _grids(seed, [3e-4, 3e-3], [1e-5, 1e-4])] + edge_grid()),
)
