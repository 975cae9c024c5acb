r"""The learning-rate grid for full-data GLUE on MiniLM (3 epochs, seed 13): the values around the defaults.

  python -m experiments.sweep --sweep=experiments/sweeps/glue_full_lr_minilm.py --root=experiments/runs run --workers=2
  python -m experiments.report \
      --runs=experiments/runs/glue_full_3epochs_minilm,experiments/runs/glue_full_lr_minilm \
      --select_on_dev=train.learning_rate --select_on_seed=13 --out=experiments/results/glue_full_lr_minilm

glue_full_3epochs_minilm.py runs every method at one lr (1e-3 parameter-efficient, 3e-5 full) on seed 13.
This sweep adds the rest of the issue's grid on seed 13: 3e-4 and 3e-3 for the parameter-efficient methods,
1e-5 and 1e-4 for full fine-tuning. The report picks each (task, method)'s lr on seed 13's held-out dev split;
glue_full_seeds_minilm.py then runs seeds 21 and 42 at that lr (a cell's n says how many seeds ran it).
Ordered so that partial results answer the first question, whether SPARTAN's gap to the adapters is its lr:
  '^(stsb|mrpc)-spartan-.*-lr0.003$'     2 runs, 0.6 h
  '^(stsb|mrpc)-(spartan|houlsby|pfeiffer)-'  12 runs, 3.3 h
then the other methods on STS-B and MRPC, then RTE and CoLA. 56 runs, and one more for each (task, method)
whose dev-best lr is at an edge of the grid: the lr beyond that edge (experiments/lr_grid.py). Such a run is
listed once the group's grid is done (until then the group is printed as waiting); `run` reads the sweep
again when its listed jobs are done, so one `run` covers them. The seed-13 runs are read from
experiments/runs next to this folder, whatever --root says.
seconds_per_job: as glue_full_3epochs_minilm.py (two workers, 2-core CPU).
"""

from experiments import lr_grid

_ADAPTERS = ['spartan', 'houlsby', 'pfeiffer']
_PEFT_OTHERS = ['lora', 'bitfit', 'head_only']
_BELOW, _ABOVE = lr_grid.DEFAULT_RUNG - 1, lr_grid.DEFAULT_RUNG + 1  # 3e-4 and 3e-3; 1e-5 and 1e-4 for full.


def _grid(tasks, methods, rungs=(_BELOW, _ABOVE)):
  return lr_grid.grid(tasks, methods, seed=13, rungs=rungs)


def edge_grid_and_waiting(runs=lr_grid.RUNS):
  """(seed-13 runs beyond the grid's edge that the dev choices asked or ask for; lines for the groups still
  undecided). Runs already made stay listed, so `status` counts them."""
  grid, waiting = [], []
  for (task, method), group in lr_grid.status(runs).items():
    beyond = lr_grid.beyond_grid(method, group['done'] + group['needed'])
    if beyond:
      grid.append(lr_grid.jobs(task, method, 13, beyond))
    elif group['needed']:
      waiting.append(f"{task}-{method}: an lr beyond the grid may follow; "
                     f"has run {group['done'] or 'none'} of {lr_grid.grid_lrs(method)}")
  return grid, waiting


_SMALL = ['stsb', 'mrpc']
_EDGES, _WAITING = edge_grid_and_waiting()
SWEEP = dict(
    name='glue_full_lr_minilm',
    overrides=['--config.data.glue_dir=../shared/data/glue'],
    grid=(_grid(_SMALL, ['spartan'], rungs=[_ABOVE]) + _grid(_SMALL, ['houlsby', 'pfeiffer'], rungs=[_ABOVE])
          + _grid(_SMALL, _ADAPTERS, rungs=[_BELOW]) + _grid(_SMALL, _PEFT_OTHERS + ['full'])
          + _grid(['rte', 'cola'], _ADAPTERS + _PEFT_OTHERS + ['full']) + _EDGES),
    waiting=_WAITING,
    seconds_per_job=2000,
)
