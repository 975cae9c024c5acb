"""A trained run, rebuilt for inference: the backbone named in its config.json plus its delta.

`load_run(workdir)` gives the task, the model, its params (computed in float32 whatever the run's
dtype), the tokenizer and the max length; `logits_of(run, texts)` and `labels_and_scores` turn text into
label names and scores; `deployable(model, params)` folds LoRA into the weights so that every method runs
as one plain graph (what `export.py` converts).
"""

import dataclasses
import json
import os
from collections.abc import Sequence
from typing import Any

import jax
import ml_collections
import numpy as np
import transformers

from spartan_jax import checkpoint
from spartan_jax import partition
from spartan_jax import train
from spartan_jax.data import pipeline
from spartan_jax.data import tasks as tasks_lib
from spartan_jax.models import bert
from spartan_jax.models import model as model_lib
from spartan_jax.models import peft
from spartan_jax.models import pretrained


@dataclasses.dataclass(frozen=True)
class Run:
  """A trained task: `model.apply({'params': params}, ids, mask, types)` gives its logits."""
  workdir: str
  task: tasks_lib.Task
  method: str
  backbone: str  # The pretrained id or directory in the run's config.
  model: model_lib.SequenceClassifier
  params: dict
  tokenizer: Any
  max_length: int


def load_run(workdir: str) -> Run:
  """Rebuilds the run in `workdir` from its config.json and delta.safetensors."""
  config_path, delta_path = (os.path.join(workdir, name) for name in ('config.json', 'delta.safetensors'))
  for path in (config_path, delta_path):
    if not os.path.isfile(path):
      raise FileNotFoundError(f'{path} not found: --workdir must be a finished training run '
                              '(python -m spartan_jax.main --config=... --workdir=DIR writes both files).')
  with open(config_path) as f:
    config = ml_collections.ConfigDict(json.load(f))
  task = tasks_lib.get_task(config.task)
  checkpoint_dir = pretrained.resolve_checkpoint(config.model.checkpoint)
  # Runs from before config.model.pooling used the architecture's head.
  pooling = config.model.get('pooling') or model_lib.resolve_pooling(
      'auto', bert.load_encoder_config(checkpoint_dir).model_type)
  model, params = model_lib.from_pretrained(checkpoint_dir, config.method.name, task.num_labels,
                                            seed=config.seed, pooling=pooling, **train.model_specs(config))
  trainable, _ = checkpoint.load_delta(delta_path)
  return Run(workdir=workdir, task=task, method=config.method.name, backbone=config.model.checkpoint,
             model=model, params=partition.merge_trainable(params, trainable),
             tokenizer=transformers.AutoTokenizer.from_pretrained(checkpoint_dir),
             max_length=config.data.max_length)


def deployable(model: model_lib.SequenceClassifier, params: dict) -> tuple[model_lib.SequenceClassifier, dict]:
  """(model, params) with LoRA folded into the weights; other methods unchanged."""
  if model.lora is None:
    return model, params
  return model.clone(lora=None), peft.merge_lora(params, model.lora)


def encode_texts(run: Run, texts: Sequence[tuple[str, str | None]]) -> pipeline.Encoded:
  """Tokenised (text_a, text_b) pairs as the run was trained; labels are placeholders."""
  examples = [{'idx': i, 'text_a': a, 'text_b': b, 'label': 0} for i, (a, b) in enumerate(texts)]
  return pipeline.encode(run.task, examples, run.tokenizer, run.max_length)


def logits_of(run: Run, texts: Sequence[tuple[str, str | None]], batch_size: int = 32) -> np.ndarray:
  """[len(texts), num_labels] float32 logits, in input order."""
  apply = jax.jit(lambda params, b: run.model.apply(
      {'params': params}, b['input_ids'], b['attention_mask'], b['token_type_ids'])['logits'])
  out = np.zeros((len(texts), run.task.num_labels), np.float32)
  for batch in pipeline.eval_batches(encode_texts(run, texts), batch_size):
    real = batch['mask'] > 0
    out[batch['idx'][real]] = np.asarray(apply(run.params, batch))[real]
  return out


def labels_and_scores(task: tasks_lib.Task, logits: np.ndarray) -> tuple[list, np.ndarray]:
  """Label names and their probabilities; for regression, the predicted values twice."""
  if task.is_regression:
    return [float(v) for v in logits[:, 0]], logits[:, 0]
  probs = np.asarray(jax.nn.softmax(logits, axis=-1))
  best = probs.argmax(-1)
  return [task.label_names[i] for i in best], probs[np.arange(len(best)), best]
