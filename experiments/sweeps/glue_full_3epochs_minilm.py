r"""Full-data GLUE on MiniLM with the reference's 3 epochs, the four small tasks, every method, seed 13.

  python -m experiments.sweep --sweep=experiments/sweeps/glue_full_3epochs_minilm.py --root=experiments/runs run --workers=2
  python -m experiments.report --runs=experiments/runs/glue_full_3epochs_minilm \
      --out=experiments/results/glue_full_3epochs_minilm

glue_full_minilm.py trains one epoch to fit the 2-core CPU; there the dev curves were still rising at the
end, SPARTAN's the slowest to start. This sweep is the issue's protocol for the small tasks at the default
learning rates: 3 epochs (the reference's), lr 1e-3 for the parameter-efficient methods and 3e-5 for full
fine-tuning, evaluation every 100 steps on the held-out dev split (drawn with the run's seed). It is the
seed-13 point of the lr grid (glue_full_lr_minilm.py has the other lrs); glue_full_seeds_minilm.py runs
seeds 21 and 42 at each (task, method)'s dev-chosen lr. 28 runs, about 7.8 h with two workers, in parts:
  '^(stsb|mrpc)-(spartan|houlsby|pfeiffer)-'  6 runs, 1.7 h: where one epoch separated the methods
  then the other methods on STS-B and MRPC, then RTE and CoLA.
seconds_per_job: 3x the median of glue_full_minilm.py's runs on these tasks (two workers, 2-core CPU).
"""

from experiments import lr_grid

_ADAPTERS = ['spartan', 'houlsby', 'pfeiffer']
_OTHERS = ['lora', 'bitfit', 'head_only', 'full']


def _grid(tasks, methods):
  return lr_grid.grid(tasks, methods, seed=13, rungs=[lr_grid.DEFAULT_RUNG])


SWEEP = dict(
    name='glue_full_3epochs_minilm',
    overrides=['--config.data.glue_dir=../shared/data/glue'],
    grid=_grid(['stsb', 'mrpc'], _ADAPTERS) + _grid(['stsb', 'mrpc'], _OTHERS) + _grid(['rte', 'cola'], _ADAPTERS + _OTHERS),
    seconds_per_job=2000,
)
