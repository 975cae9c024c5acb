r"""Full-data GLUE (the paper's main setting) on MiniLM, every method: one epoch, seed 13, the default lr.

  python -m experiments.sweep --sweep=experiments/sweeps/glue_full_minilm.py --root=experiments/runs run --workers=2
  python -m experiments.report --runs=experiments/runs/glue_full_minilm --out=experiments/results/glue_full_minilm

Full training sets minus a held-out dev split (min(1000, 10%) of train, drawn with the run's seed, see
spartan_jax/data/kshot.py), evaluated every 100 steps (SST-2: 500) and at the end; the best dev checkpoint is scored on
the GLUE dev set (the test column). Sized for the 2-core CPU: one epoch (the reference trains 3) and one
seed, parameter-efficient methods at the reference lr 1e-3 and full fine-tuning at 3e-5, no lr grid. The
four small tasks come first, task by task; SST-2 (67k sentences, max length 64) last. 35 runs.
seconds_per_job: from 40-step timings on the 2-core CPU (RTE 0.72 steps/s, CoLA 3.7 steps/s for SPARTAN,
one worker) plus compilation and evaluation, doubled for two workers; SST-2 runs take ~5x longer.
"""

_METHODS = ['spartan', 'houlsby', 'pfeiffer', 'lora', 'bitfit', 'head_only']


def _grid(task, eval_every=100, **extra):
  common = {'seed': 13, 'model': 'minilm', 'train.num_epochs': 1, 'train.eval_every': eval_every, **extra}
  return [dict(task=task, method=_METHODS, **common, **{'train.learning_rate': 1e-3}),
          dict(task=task, method='full', **common, **{'train.learning_rate': 3e-5})]


SWEEP = dict(
    name='glue_full_minilm',
    overrides=['--config.data.glue_dir=../shared/data/glue'],
    grid=[g for task in ('mrpc', 'cola', 'stsb', 'rte') for g in _grid(task)]
    + _grid('sst2', eval_every=500, **{'data.max_length': 64}),
    seconds_per_job=350,
)
