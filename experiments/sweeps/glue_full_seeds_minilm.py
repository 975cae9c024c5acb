r"""Seeds 21 and 42 of the full-data GLUE sweep (glue_full_minilm.py has seed 13) on the four small tasks.

  python -m experiments.sweep --sweep=experiments/sweeps/glue_full_seeds_minilm.py --root=experiments/runs run --workers=2
  python -m experiments.report --runs=experiments/runs/glue_full_minilm,experiments/runs/glue_full_seeds_minilm \
      --filter='^(mrpc|cola|stsb|rte)-' --out=experiments/results/glue_full_seeds_minilm

The recipe of glue_full_minilm.py (one epoch, lr 1e-3 for the parameter-efficient methods and 3e-5 for full
fine-tuning, evaluation every 100 steps, the dev split drawn with the run's own seed), so that the report
pairs the methods by seed and gives their differences a spread. Jobs are ordered so that partial results
are useful: STS-B and MRPC first (where one seed already separated the methods), SPARTAN and both adapters
before the other methods, seed 21 before 42; then RTE and CoLA (every parameter-efficient method at chance
after one epoch). 56 runs, about 5.4 h with two workers; run a part with `--filter`.
seconds_per_job: the median of glue_full_minilm.py's runs on these tasks (two workers, 2-core CPU).
"""


def _grid(tasks, methods, seed):
  common = {'task': tasks, 'seed': seed, 'model': 'minilm', 'train.num_epochs': 1, 'train.eval_every': 100}
  peft = [m for m in methods if m != 'full']
  return ([dict(method=peft, **common, **{'train.learning_rate': 1e-3})] if peft else []) + (
      [dict(method='full', **common, **{'train.learning_rate': 3e-5})] if 'full' in methods else [])


_ADAPTERS = ['spartan', 'houlsby', 'pfeiffer']
_OTHERS = ['lora', 'bitfit', 'head_only', 'full']

SWEEP = dict(
    name='glue_full_seeds_minilm',
    overrides=['--config.data.glue_dir=../shared/data/glue'],
    grid=[g for tasks in (['stsb', 'mrpc'], ['rte', 'cola']) for methods in (_ADAPTERS, _OTHERS)
          for seed in (21, 42) for g in _grid(tasks, methods, seed)],
    seconds_per_job=700,
)
