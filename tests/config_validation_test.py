"""Every bad config is refused before data or a model loads, naming the field, the value and the fix.

CASES is the README's "What it refuses" table (config part); faults are in train_test and checkpoint_test.
"""

import os

from absl.testing import absltest
from absl.testing import parameterized

from spartan_jax import config_validation
from spartan_jax import train
import helpers
import shared_data

# (--config overrides on `glue.py:sst2,k=16,model=minilm`, text the error must hold).
CASES = [
    ({'train.learning_rate': -1.0}, 'train.learning_rate=-1.0: must be a finite number in (0, inf)'),
    ({'data.max_length': 100000}, "data.max_length=100000: exceeds the 512 positions of checkpoint 'minilm'"),
    ({'train.batch_size': 0}, 'train.batch_size=0: must be an integer >= 1'),
    ({'train.batch_size': 6}, 'train.batch_size=6: must be divisible by the 4 devices of all processes'),
    ({'train.eval_batch_size': 0}, 'train.eval_batch_size=0: must be an integer >= 1'),
    ({'task': 'sst3'}, "task='sst3': is unknown; use one of cola, sst2"),
    ({'method.name': 'adapters'}, "method.name='adapters': is unknown; use one of spartan, head_only"),
    ({'method.memory.impl': 'sparse'}, "method.memory.impl='sparse': is unknown; use one of dense, gather"),
    ({'method.memory.top_k': 32}, 'method.memory.top_k=32: exceeds num_parents=16'),
    ({'method.memory.memory_size': 50}, 'method.memory.memory_size=50: is not divisible by method.memory.num_parents=16'),
    ({'method.memory.temperature': 0.0}, 'method.memory.temperature=0.0: must be a finite number in (0, inf)'),
    ({'method.memory.layers': '0,9'}, "method.memory.layers='0,9': must be \"all\" or comma-separated layer indices in [0, 6)"),
    ({'model.checkpoint': '/no/such/dir'}, "model.checkpoint='/no/such/dir': Checkpoint '/no/such/dir' is not a directory"),
    ({'model.dtype': 'float16'}, "model.dtype='float16': is unknown; use one of float32, bfloat16"),
    ({'model.pooling': 'max'}, "model.pooling='max': is unknown; use one of auto, cls_pooler, cls, mean"),
    ({'data.k': 0}, 'data.k=0: must be an integer >= 1'),
    ({'data.glue_dir': '/no/such/glue'}, "data.glue_dir='/no/such/glue': is not a directory"),
    ({'data.buckets': (64, 32)}, 'data.buckets=(64, 32): must be a non-empty, strictly increasing tuple'),
    ({'data.source': 'csv'}, "data.source='csv': is unknown; use one of auto, tfds, tsv"),
    ({'train.warmup_ratio': 1.0}, 'train.warmup_ratio=1.0: must be a finite number in [0, 1)'),
    ({'train.eval_every': 0}, 'train.eval_every=0: must be an integer >= 1'),
    ({'train.log_every': 0}, 'train.log_every=0: must be an integer >= 1'),
    ({'train.keep_checkpoints': 0}, 'train.keep_checkpoints=0: must be an integer >= 1'),
    ({'train.num_steps': -1}, 'train.num_steps=-1: must be an integer >= 0'),
    ({'train.grad_clip_norm': -1.0}, 'train.grad_clip_norm=-1.0: must be a finite number in [0, inf)'),
    ({'train.weight_decay': float('nan')}, 'train.weight_decay=nan: must be a finite number in [0, inf)'),
    ({'method.name': 'lora', 'method.lora.rank': 1000}, 'method.lora.rank=1000: exceeds the hidden size 384'),
    ({'method.name': 'lora', 'method.lora.targets': ('query', 'ffn')},
     "method.lora.targets=('query', 'ffn'): must be a non-empty subset of query, key, value, output"),
    ({'method.name': 'houlsby', 'method.adapter.bottleneck': 0}, 'method.adapter.bottleneck=0: must be an integer >= 1'),
    ({'method.name': 'pfeiffer', 'method.adapter.activation': 'swish'},
     "method.adapter.activation='swish': is unknown; use one of relu, gelu, tanh"),
    ({'method.aux_loss_weight': -0.1}, 'method.aux_loss_weight=-0.1: must be a finite number in [0, inf)'),
]


def _config(overrides: dict):
  config = helpers.load_config('glue.py:sst2,k=16,model=minilm')
  config.data.glue_dir = shared_data.require('glue')
  config.update_from_flattened_dict(overrides)
  return config


class ValidateTest(parameterized.TestCase):

  def test_the_default_configs_pass(self):
    config_validation.validate(_config({}))
    for arg in ('rte,method=houlsby,k=16', 'stsb,method=lora,runlocal', 'mrpc,method=full,n=100'):
      config = helpers.load_config(f'glue.py:{arg},model=minilm')
      config_validation.validate(config)

  @parameterized.parameters(*CASES)
  def test_refused_before_anything_loads(self, overrides, message):
    with self.assertRaises(config_validation.ConfigError) as error:
      config_validation.validate(_config(overrides))
    self.assertIn(message, str(error.exception))
    self.assertIn('; ', str(error.exception))  # Then the fix.

  def test_train_and_evaluate_validates_first(self):
    workdir = self.create_tempdir().full_path
    with self.assertRaisesRegex(config_validation.ConfigError, 'train.learning_rate'):
      train.train_and_evaluate(_config({'train.learning_rate': -1.0}), workdir)
    self.assertEmpty(os.listdir(workdir))  # Not even config.json.

  def test_every_bad_field_is_listed(self):
    with self.assertRaisesRegex(config_validation.ConfigError, r'^3 bad config field\(s\)'):
      config_validation.validate(_config({'train.learning_rate': 0.0, 'train.batch_size': 0, 'task': 'x'}))

  def test_checkpoint_config_json_that_is_not_json(self):
    directory = self.create_tempdir()
    directory.create_file('config.json', content='{"hidden_size": 32,')
    directory.create_file('model.safetensors', content='')
    with self.assertRaisesRegex(config_validation.ConfigError, 'config.json is not valid JSON'):
      config_validation.validate(_config({'model.checkpoint': directory.full_path}))


if __name__ == '__main__':
  absltest.main()
