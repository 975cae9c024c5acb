r"""Score versus k on SST-2 and MRPC (LM-BFF splits, k = 64 and 256 per class), MiniLM, five methods, lr on dev.

  python -m experiments.sweep --sweep=experiments/sweeps/fewshot_vs_k_minilm.py --root=experiments/runs run --workers=2
  python -m experiments.report \
      --runs=experiments/runs/fewshot_lr_minilm,experiments/runs/fewshot_vs_k_minilm \
      --filter='^(sst2|mrpc)-(spartan|houlsby|pfeiffer|lora|head_only)-' \
      --select_on_dev=train.learning_rate --out=experiments/results/fewshot_vs_k_minilm

The k=16 points are fewshot_lr_minilm.py's runs, chosen the same way. Same budget at every k (60 steps x
batch 16, eval every 10 steps on the k-per-class dev split, best dev checkpoint, test = the GLUE dev set):
more data, not more steps. The lr grid is fewshot_lr_minilm.py's, {3e-4, 1e-3, 3e-3}, chosen per seed on
its dev split; a choice at the grid's edge adds the lr beyond it for that seed (experiments/lr_grid.py),
listed once that seed's three lrs have run. The 1e-3 runs came first (60 runs, commit 3c38c84); the rest is
ordered task by task, SST-2 (the faster task) first, then seed by seed. 180 runs and the edge runs. The runs
are read from experiments/runs next to this folder, whatever --root says.
"""

import os

from experiments import lr_grid
from experiments import report

_TASKS = ['sst2', 'mrpc']
_METHODS = ['spartan', 'houlsby', 'pfeiffer', 'lora', 'head_only']
_KS = (64, 256)


def _grid(task, method, k, seed, lrs):
  return dict(task=task, method=method, k=k, seed=seed, model='minilm', **{'train.learning_rate': lrs})


def edge_grid(runs=lr_grid.RUNS):
  """Runs beyond the grid's edge that the per-seed dev choices asked or ask for (made ones stay listed)."""
  records = report.load_records(os.path.join(runs, 'fewshot_vs_k_minilm'))[0]
  return [_grid(r['task'], r['method'], r['config']['data']['k'], r['seed'], lrs)
          for r, lrs in lr_grid.per_seed_edges(records)]


SWEEP = dict(
    name='fewshot_vs_k_minilm',
    overrides=['--config.data.glue_dir=../shared/data/glue'],
    grid=([_grid(_TASKS, _METHODS, k, [13, 21, 42], 1e-3) for k in _KS]
          + [_grid(task, _METHODS, k, seed, [3e-4, 3e-3]) for task in _TASKS for seed in (13, 21, 42) for k in _KS]
          + edge_grid()),
)
