r"""LM-BFF 16-shot on five GLUE tasks with the packaged MiniLM: SPARTAN against every baseline.

  python -m experiments.sweep --sweep=experiments/sweeps/fewshot_all_minilm.py --root=experiments/runs run --workers=2
  python -m experiments.report --runs=experiments/runs/fewshot_all_minilm --out=experiments/results/fewshot_all_minilm

5 tasks x 7 methods x 3 seeds = 105 runs, all at the config's defaults (one learning rate for every method,
full fine-tuning included).
"""

SWEEP = dict(
    name='fewshot_all_minilm',
    overrides=['--config.data.glue_dir=../shared/data/glue'],
    grid=dict(
        task=['sst2', 'rte', 'mrpc', 'cola', 'stsb'],
        method=['spartan', 'houlsby', 'pfeiffer', 'lora', 'bitfit', 'head_only', 'full'],
        k=[16],
        seed=[13, 21, 42],
        model='minilm',
    ),
)
