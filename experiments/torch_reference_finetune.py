r"""A finished full fine-tuning run, repeated in Hugging Face PyTorch on its exact splits and batches.

  python -m experiments.torch_reference_finetune \
      --run=experiments/runs/glue_full_minilm/cola-full-seed13-minilm-num_epochs1-eval_every100-lr3e-05 \
      --out=experiments/results/torch_reference_cola_full.md

Reads the run's config.json and trains `transformers.AutoModel` with mean pooling, dropout and a linear
classifier (spartan_jax's MeanHead) using torch.optim.AdamW, the same linear decay, clipping, batch order
(pipeline.train_batches with the run's seed), held-out dev split and evaluation steps as spartan_jax.train.
It then scores the best dev checkpoint on the test splits. The table puts the run's own dev scores
(metrics.jsonl) and test score beside PyTorch's. Dropout masks and the classifier's initial weights are
torch's own draws, so the two curves should agree in distribution, not bit for bit.
tests/finetune_reference_test.py holds single steps to PyTorch exactly. Torch is a reference tool here,
not a dependency of the package.
"""

import copy
import json
import os
import time

from absl import app
from absl import flags
import ml_collections
import numpy as np

from experiments import common
from spartan_jax import metrics as metrics_lib
from spartan_jax import train
from spartan_jax.data import pipeline
from spartan_jax.data import tasks as tasks_lib
from spartan_jax.models import bert
from spartan_jax.models import model as model_lib
from spartan_jax.models import pretrained


def check_run(config) -> None:
  """The recipes this script repeats: full fine-tuning, mean pooling, no warm-up, float32."""
  checkpoint_dir = pretrained.resolve_checkpoint(config.model.checkpoint)
  model_type = bert.load_encoder_config(checkpoint_dir).model_type
  pooling = model_lib.resolve_pooling(config.model.pooling, model_type, checkpoint_dir)
  problems = [f'{name}={value!r} (needs {need!r})' for name, value, need in [
      ('method.name', config.method.name, 'full'), ('model.pooling', pooling, 'mean'),
      ('train.warmup_ratio', config.train.warmup_ratio, 0.0), ('model.dtype', config.model.dtype, 'float32')]
      if value != need]
  if problems:
    raise ValueError(f'This script repeats full fine-tuning with mean pooling only; the run has '
                     f"{', '.join(problems)}. Give another --run.")


def finetune(config, task, log=print) -> dict:
  """{'dev': [(step, dev score)], 'best_step', 'best_dev_score', 'test': {split: metrics}, 'test_score'}."""
  import torch  # pylint: disable=g-import-not-at-top
  import transformers  # pylint: disable=g-import-not-at-top
  torch.manual_seed(config.seed)
  checkpoint_dir, train_data, dev_data, test_data = train.load_encoded(config, task)

  encoder = transformers.AutoModel.from_pretrained(checkpoint_dir, add_pooling_layer=False)
  hidden = encoder.config.hidden_size
  dropout = torch.nn.Dropout(encoder.config.hidden_dropout_prob)
  classifier = torch.nn.Linear(hidden, task.num_labels)
  torch.nn.init.normal_(classifier.weight, std=0.02)
  torch.nn.init.zeros_(classifier.bias)
  modules = torch.nn.ModuleDict({'encoder': encoder, 'classifier': classifier})

  def logits(batch, training):
    modules.train(training)
    ids = torch.from_numpy(batch['input_ids']).long()
    mask = torch.from_numpy(batch['attention_mask']).long()
    h = encoder(input_ids=ids, attention_mask=mask,
                token_type_ids=torch.from_numpy(batch['token_type_ids']).long()).last_hidden_state
    m = mask.unsqueeze(-1).float()
    pooled = (h * m).sum(1) / m.sum(1).clamp(min=1.0)
    return classifier(dropout(pooled) if training else pooled)

  def evaluate(encoded):
    predictions, labels = [], []
    with torch.no_grad():
      for batch in pipeline.eval_batches(encoded, config.train.eval_batch_size):
        out, real = logits(batch, False).numpy(), batch['mask'] > 0
        predictions.append(out[real, 0] if task.is_regression else out[real].argmax(-1))
        labels.append(batch['label'][real])
    return metrics_lib.compute_metrics(task, np.concatenate(predictions), np.concatenate(labels))

  t = config.train
  steps_per_epoch = -(-len(train_data) // t.batch_size)
  total_steps = train.num_train_steps(t, len(train_data))
  opt = torch.optim.AdamW(modules.parameters(), lr=t.learning_rate, betas=(0.9, 0.999), eps=1e-8,
                          weight_decay=t.weight_decay)
  schedule = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 1 - s / total_steps)
  dev_curve, best = [], None
  start, step = time.time(), 0
  for epoch in range(-(-total_steps // steps_per_epoch)):
    for batch in pipeline.train_batches(train_data, t.batch_size, config.seed, epoch):
      step += 1
      out = logits(batch, True)
      weights = torch.from_numpy(batch['mask'])
      if task.is_regression:
        per_row = (out[:, 0] - torch.from_numpy(batch['label'])) ** 2
      else:
        per_row = torch.nn.functional.cross_entropy(out, torch.from_numpy(batch['label']).long(), reduction='none')
      loss = (per_row * weights).sum() / weights.sum().clamp(min=1.0)
      opt.zero_grad()
      loss.backward()
      if t.grad_clip_norm:
        torch.nn.utils.clip_grad_norm_(modules.parameters(), t.grad_clip_norm)
      opt.step()
      schedule.step()
      if step % t.eval_every == 0 or step == total_steps:
        score = metrics_lib.split_score(task, evaluate(dev_data))
        dev_curve.append((step, score))
        log(f'step {step}/{total_steps}: loss {loss.item():.4f}, dev score {score:.4f} ({time.time() - start:.0f} s)')
        if best is None or score >= best[1]:  # Ties go to the later step, as in spartan_jax.train.
          best = (step, score, copy.deepcopy(modules.state_dict()))
      if step == total_steps:
        break
  modules.load_state_dict(best[2])
  test = {name: evaluate(data) for name, data in test_data.items()}
  return {'dev': dev_curve, 'best_step': best[0], 'best_dev_score': best[1], 'test': test,
          'test_score': metrics_lib.task_score(task, test)}


def load_run(run: str) -> tuple[ml_collections.ConfigDict, dict, dict[int, float]]:
  """(config, results.json, {step: dev score}) of a finished spartan_jax run."""
  paths = {name: os.path.join(run, name) for name in ('config.json', 'results.json', 'metrics.jsonl')}
  missing = [p for p in paths.values() if not os.path.exists(p)]
  if missing:
    raise FileNotFoundError(f'--run={run} is not a finished run: no {missing}.')
  with open(paths['config.json']) as f:
    config = ml_collections.ConfigDict(json.load(f))
  with open(paths['results.json']) as f:
    results = json.load(f)
  with open(paths['metrics.jsonl']) as f:
    dev = {r['step']: r['dev/score'] for r in map(json.loads, f) if 'dev/score' in r}
  return config, results, dev


def to_markdown(run: str, ours: dict, our_dev: dict[int, float], theirs: dict, command: str, start: float) -> str:
  lines = common.header(f'{run}: spartan_jax and Hugging Face PyTorch on the same splits and batches', command,
                        start, 'PyTorch: AutoModel, mean pooling, dropout, linear classifier; torch.optim.AdamW '
                        'with the run\'s lr, linear decay and clipping; its own dropout masks and classifier init.')
  lines += ['Scores ×100 (dev: the held-out split drawn from train; test: the GLUE dev set, scored with the '
            'best dev checkpoint).', '', '| step | dev, spartan_jax | dev, PyTorch |', '|---:|---:|---:|']
  lines += [f"| {step} | {100 * our_dev[step]:.1f} | {100 * score:.1f} |" if step in our_dev
            else f'| {step} |  | {100 * score:.1f} |' for step, score in theirs['dev']]
  lines += ['', '| | best step | best dev | test score | test metrics |', '|---|---:|---:|---:|---|']
  for name, r in (('spartan_jax', ours), ('PyTorch', theirs)):
    metrics = '; '.join(f'{split} {k} {100 * v:.1f}' for split, m in r['test'].items() for k, v in m.items())
    lines.append(f"| {name} | {r['best_step']} | {100 * r['best_dev_score']:.1f} | {100 * r['test_score']:.1f} | "
                 f'{metrics} |')
  return '\n'.join(lines + [''])


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f'Unexpected arguments: {argv[1:]}')
  f = flags.FLAGS
  start = time.time()
  config, ours, our_dev = load_run(f.run)
  check_run(config)
  theirs = finetune(config, tasks_lib.get_task(config.task))
  common.emit(to_markdown(f.run, ours, our_dev, theirs, common.command_line('experiments.torch_reference_finetune'),
                          start), f.out)


if __name__ == '__main__':
  flags.DEFINE_string('run', None, 'A finished spartan_jax.main workdir (config.json, results.json, metrics.jsonl).')
  flags.DEFINE_string('out', None, 'Also write the markdown here.')
  flags.mark_flag_as_required('run')
  app.run(main)
