r"""LM-BFF 16-shot SST-2 and RTE on the packaged MiniLM: SPARTAN against Houlsby adapters and a frozen backbone.

  python -m experiments.sweep --sweep=experiments/sweeps/fewshot_minilm.py --root=experiments/runs run --workers=2
  python -m experiments.report --runs=experiments/runs/fewshot_minilm --out=experiments/results/fewshot_minilm

2 tasks x 5 seeds x 3 methods = 30 runs at the config's few-shot budget (train.num_steps steps, best dev
checkpoint; test = the GLUE dev set).
"""

SWEEP = dict(
    name='fewshot_minilm',
    overrides=['--config.data.glue_dir=../shared/data/glue'],
    grid=dict(
        task=['sst2', 'rte'],
        method=['spartan', 'houlsby', 'head_only'],
        k=[16],
        seed=[13, 21, 42, 87, 100],  # LM-BFF's split seeds.
        model='minilm',
    ),
)
