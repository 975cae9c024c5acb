r"""Score versus k on SST-2 and MRPC (LM-BFF splits, k = 64 and 256 per class), MiniLM, five methods.

  python -m experiments.sweep --sweep=experiments/sweeps/fewshot_vs_k_minilm.py --root=experiments/runs run --workers=2
  python -m experiments.report \
      --runs=experiments/runs/fewshot_lr_minilm,experiments/runs/fewshot_vs_k_minilm \
      --filter='^(sst2|mrpc)-(spartan|houlsby|pfeiffer|lora|head_only)-.*-lr0.001$' \
      --out=experiments/results/fewshot_vs_k_minilm

The k=16 points are fewshot_lr_minilm.py's runs at the same learning rate (1e-3, the reference's). Same
budget at every k (60 steps x batch 16, eval every 10 steps on the k-per-class dev split, best dev
checkpoint, test = the GLUE dev set): more data, not more steps. 60 runs.
"""

SWEEP = dict(
    name='fewshot_vs_k_minilm',
    overrides=['--config.data.glue_dir=../shared/data/glue'],
    grid=[dict(task=['sst2', 'mrpc'], method=['spartan', 'houlsby', 'pfeiffer', 'lora', 'head_only'], k=k,
               seed=[13, 21, 42], model='minilm', **{'train.learning_rate': 1e-3}) for k in (64, 256)],
)
