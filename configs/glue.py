r"""GLUE, full data or k-shot, with SPARTAN or a baseline: one config is one run.

  # Online (TFDS data, hub checkpoint), the paper's setting:
  python -m spartan_jax.main --config=configs/glue.py:sst2 --workdir=workdirs/sst2
  # Offline (GLUE TSVs on disk, the packaged MiniLM), LM-BFF 16-shot split with seed 13:
  python -m spartan_jax.main --config=configs/glue.py:rte,method=houlsby,k=16,seed=13,model=minilm \
      --config.data.glue_dir=../shared/data/glue --workdir=workdirs/rte-houlsby-16-13

Arguments after ':' (comma-separated, a bare first value is the task):
  task     cola sst2 mrpc stsb qqp mnli qnli rte wnli (or topics: the BBC topic set)
  method   spartan head_only bitfit houlsby pfeiffer lora full
  model    a checkpoint directory, a hub id (default roberta-base) or minilm (packaged, offline)
  k        k examples per class, LM-BFF protocol (dev: another k per class; test: the GLUE dev set)
  n        the SPARTAN paper's protocol: the first n training examples
  seed     split seed (k-shot) and training seed; LM-BFF's are 13 21 42 87 100
  runlocal tiny budget for tests and notebooks
Every field can also be overridden: --config.train.learning_rate=3e-4.
Defaults are the reference SPARTAN hyper-parameters: lr 1e-3, batch 16, length 128, 3 epochs,
E=16 parents, 48 cells, top-8, temperature 1.6. Few-shot runs train a fixed number of steps instead
(train.num_steps) and pick the best dev checkpoint. Results: see README "Results".
"""

import ml_collections

from spartan_jax import config_utils


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  arg = config_utils.parse_arg(arg, task='sst2', method='spartan', model='roberta-base', k=0, n=0, seed=42,
                               runlocal=False)
  config = ml_collections.ConfigDict()
  config.task = arg['task']
  config.seed = arg['seed']

  config.data = dict(
      source='auto',  # 'tfds', 'tsv', or 'auto': tsv when glue_dir or $GLUE_DIR is set.
      glue_dir='',
      tfds_data_dir='',
      protocol='lmbff' if arg['k'] else 'first_n' if arg['n'] else 'full',
      k=arg['k'],  # Per class (lmbff).
      n=arg['n'],  # Examples (first_n).
      split_seed=arg['seed'],
      max_length=128,
      buckets=(32, 64, 128),
  )
  # pooling: auto (the checkpoint's own: mean for all-MiniLM-L6-v2; else BERT cls_pooler, RoBERTa cls),
  # cls_pooler (BertForSequenceClassification), cls (RobertaClassificationHead), mean (over real tokens).
  config.model = dict(checkpoint=arg['model'], dtype='float32', pooling='auto')
  config.method = dict(
      name=arg['method'],
      memory=dict(num_parents=16, memory_size=48, top_k=8, temperature=1.6, impl='dense', layers='all',
                  shared=False, layer_norm=False, train_layer_norms=True),
      adapter=dict(bottleneck=64, activation='relu'),
      lora=dict(rank=8, alpha=16.0, targets=('query', 'value')),
      aux_loss_weight=0.0,  # SPARTAN's optional load-balancing loss.
  )
  few_shot = bool(arg['k'] or arg['n'])
  config.train = dict(
      learning_rate=1e-3,
      batch_size=16,
      eval_batch_size=64,
      num_epochs=3,
      num_steps=60 if few_shot else 0,  # > 0 overrides num_epochs; few-shot: ~30 epochs of 2k examples.
      warmup_ratio=0.0,
      weight_decay=0.0,
      grad_clip_norm=1.0,
      eval_every=10 if few_shot else 1000,  # Steps; also evaluates at the end.
      log_every=10 if few_shot else 50,
      keep_checkpoints=1,  # Latest N, plus the best on dev.
  )
  if arg['runlocal']:
    config.data.max_length = 32
    config.data.buckets = (16, 32)
    config.train.update(batch_size=4, eval_batch_size=8, num_steps=4, eval_every=2, log_every=1)
  return config.lock()
