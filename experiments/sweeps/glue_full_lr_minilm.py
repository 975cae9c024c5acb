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
then the other methods on STS-B and MRPC, then RTE and CoLA. 56 runs.
seconds_per_job: as glue_full_3epochs_minilm.py (two workers, 2-core CPU).
"""

_ADAPTERS = ['spartan', 'houlsby', 'pfeiffer']
_PEFT_OTHERS = ['lora', 'bitfit', 'head_only']


def _grid(tasks, methods, peft_lrs=(3e-4, 3e-3), full_lrs=(1e-5, 1e-4)):
  common = {'task': tasks, 'seed': 13, 'model': 'minilm', 'train.num_epochs': 3, 'train.eval_every': 100}
  peft = [m for m in methods if m != 'full']
  return ([dict(method=peft, **common, **{'train.learning_rate': list(peft_lrs)})] if peft else []) + (
      [dict(method='full', **common, **{'train.learning_rate': list(full_lrs)})] if 'full' in methods else [])


_SMALL = ['stsb', 'mrpc']
SWEEP = dict(
    name='glue_full_lr_minilm',
    overrides=['--config.data.glue_dir=../shared/data/glue'],
    grid=(_grid(_SMALL, ['spartan'], peft_lrs=[3e-3]) + _grid(_SMALL, ['houlsby', 'pfeiffer'], peft_lrs=[3e-3])
          + _grid(_SMALL, _ADAPTERS, peft_lrs=[3e-4]) + _grid(_SMALL, _PEFT_OTHERS + ['full'])
          + _grid(['rte', 'cola'], _ADAPTERS + _PEFT_OTHERS + ['full'])),
    seconds_per_job=2000,
)
