"""Small models, golden files and checkpoints shared by the tests."""

import functools
import json
import os

import jax
import numpy as np
from safetensors.numpy import save_file

from spartan_jax import config_utils
from spartan_jax.models import bert
from spartan_jax.models import model as model_lib

GOLDEN = os.path.join(os.path.dirname(__file__), 'golden')
CONFIGS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), 'configs')
TINY_BERT = bert.EncoderConfig(vocab_size=99, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                               intermediate_size=37, max_position_embeddings=40)
TINY_ROBERTA = bert.EncoderConfig(model_type='roberta', vocab_size=99, hidden_size=32, num_hidden_layers=2,
                                  num_attention_heads=4, intermediate_size=37, max_position_embeddings=40,
                                  type_vocab_size=1, pad_token_id=1, layer_norm_eps=1e-5)


def load_config(name_with_arg: str):
  """The config of a file in configs/: load_config('glue.py:rte,k=16')."""
  return config_utils.load_config(os.path.join(CONFIGS, name_with_arg))


def load_golden(name):
  """The arrays made by make_golden.py: config, inputs, outputs and the HF state dict."""
  g = np.load(os.path.join(GOLDEN, f'{name}.npz'))
  state = {k[len('state/'):]: g[k] for k in g.files if k.startswith('state/')}
  arrays = {k: g[k] for k in g.files if not k.startswith('state/') and k != 'config'}
  return json.loads(str(g['config'])), arrays, state


def write_checkpoint(directory, hf_config, state):
  """A Hugging Face-style checkpoint directory: config.json + model.safetensors."""
  os.makedirs(directory, exist_ok=True)
  with open(os.path.join(directory, 'config.json'), 'w') as f:
    json.dump(hf_config, f)
  save_file({k: np.ascontiguousarray(v) for k, v in state.items()}, os.path.join(directory, 'model.safetensors'))
  return directory


def random_batch(seed, batch, length, config=TINY_BERT, min_len=2):
  """Ids, a ragged attention mask and token types for `config`; pad ids where masked."""
  rng = np.random.default_rng(seed)
  lengths = rng.integers(min_len, length + 1, size=batch)
  lengths[0] = length
  mask = (np.arange(length)[None] < lengths[:, None]).astype(np.int32)
  ids = rng.integers(config.pad_token_id + 1, config.vocab_size, size=(batch, length)).astype(np.int32)
  ids = np.where(mask > 0, ids, config.pad_token_id).astype(np.int32)
  types = np.zeros_like(ids) if config.type_vocab_size == 1 else (np.arange(length)[None] >= lengths[:, None] // 2)
  return ids, mask, np.asarray(types * mask, np.int32)


def tiny_model(method='spartan', config=TINY_BERT, num_labels=3, seed=0, **specs):
  """(model, params); params are a fresh dict tree each call (the arrays are shared and immutable)."""
  model, params = _cached_tiny_model(method, config, num_labels, seed, tuple(sorted(specs.items())))
  return model, jax.tree.map(lambda x: x, params)


@functools.lru_cache(maxsize=None)
def _cached_tiny_model(method, config, num_labels, seed, specs):
  model = model_lib.build_model(config, method, num_labels, **dict(specs))
  return model, model_lib.init_params(model, jax.random.key(seed))


_TOKENIZER_FILES = ('vocab.txt', 'tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json')


def tiny_checkpoint_with_minilm_tokenizer(directory):
  """The golden tiny BERT, its vocabulary widened to MiniLM's tokenizer (random new rows)."""
  import shutil  # pylint: disable=import-outside-toplevel
  from spartan_jax.models import pretrained  # pylint: disable=import-outside-toplevel
  hf_config, _, state = load_golden('bert')
  minilm = pretrained.resolve_checkpoint('minilm')
  with open(os.path.join(minilm, 'config.json')) as f:
    vocab = json.load(f)['vocab_size']
  state = dict(state)
  state['bert.embeddings.word_embeddings.weight'] = np.random.default_rng(0).normal(
      0, 0.02, (vocab, hf_config['hidden_size'])).astype(np.float32)
  state = {k: v for k, v in state.items() if not k.startswith('classifier.')}
  write_checkpoint(directory, {**hf_config, 'vocab_size': vocab}, state)
  for name in _TOKENIZER_FILES:
    shutil.copy(os.path.join(minilm, name), directory)
  return directory
