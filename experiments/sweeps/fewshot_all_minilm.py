r"""LM-BFF 16-shot on five GLUE tasks with the packaged MiniLM: SPARTAN against every baseline.

  python -m experiments.sweep --sweep=experiments/sweeps/fewshot_all_minilm.py --root=experiments/runs run --workers=2
  python -m experiments.report --runs=experiments/runs/fewshot_all_minilm --out=experiments/results/fewshot_all_minilm

5 tasks x 7 methods x 3 seeds = 105 runs at the config's few-shot budget (60 steps x batch 16, eval on the
k-shot dev set every 10 steps, best dev checkpoint, test = the GLUE dev set); 114 minutes on 2 CPU cores
with 2 workers (about 38 per seed). The parameter-efficient methods share the reference's learning rate
1e-3; full fine-tuning gets 5e-5, the top of BERT's usual fine-tuning range (not tuned here).
"""

_TASKS = ['sst2', 'rte', 'mrpc', 'cola', 'stsb']
_SPLITS = dict(
    k=[16],
    seed=[13, 21, 42],  # Three of LM-BFF's five split seeds.
    model='minilm',
)

SWEEP = dict(
    name='fewshot_all_minilm',
    overrides=['--config.data.glue_dir=../shared/data/glue'],
    grid=[
        dict(task=_TASKS, method=['spartan', 'houlsby', 'pfeiffer', 'lora', 'bitfit', 'head_only'], **_SPLITS),
        dict(task=_TASKS, method='full', **_SPLITS, **{'train.learning_rate': 5e-5}),
    ],
)
