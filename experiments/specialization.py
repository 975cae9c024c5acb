r"""Do SPARTAN's parent cells specialise by topic? Trained vs untrained memory on BBC News.

  python -m experiments.specialization --workdir=experiments/runs/specialization \
      --out=experiments/results/specialization

Trains SPARTAN on the BBC topic set (configs/glue.py:topics,model=minilm, a small step budget) with
`train.train_and_evaluate`, or reuses the workdir's run when it holds results.json. Then it runs the
test split through the trained model (backbone + delta.safetensors) and through the same backbone with
the fresh memory and head that training started from (the baseline), and per memory layer scores how
much the parent routing depends on the article's topic:

  NMI          sklearn's normalized_mutual_info_score (arithmetic mean) between each real token's
               top parent (argmax of its parent weights) and its article's topic.
  NMI shuffled the same with topics permuted over articles (the chance level, given that tokens of
               one article route alike).
  article NMI  the same with one item per article: its top parent after averaging over its tokens.
  top share    mean over parents of the largest topic's share of the parent's per-topic weight
               (topic means, so class sizes do not count): 1/topics when blind, 1 when every parent
               serves one topic.

Writes <out>.md, <out>_heatmaps.png (topics x parents mean weights per layer, trained and untrained)
and <out>_nmi.png. The analysis is the pure numpy functions below; the rest is I/O.
"""

import json
import os

from absl import app
from absl import flags
import jax
import jax.numpy as jnp
import numpy as np
from sklearn import metrics as sk_metrics
import transformers

from experiments import common
from spartan_jax import checkpoint
from spartan_jax import config_utils
from spartan_jax import partition
from spartan_jax import train
from spartan_jax.data import pipeline
from spartan_jax.data import sources
from spartan_jax.data import tasks as tasks_lib
from spartan_jax.models import model as model_lib
from spartan_jax.models import pretrained

_CONFIG = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), 'configs', 'glue.py')
_CONFIG_ARG = 'topics,model=minilm'
_MODEL_INPUTS = ('input_ids', 'attention_mask', 'token_type_ids')

# ----------------------------------------------------------------------------
# Analysis: pure numpy.
# ----------------------------------------------------------------------------


def _stack(parent_weights) -> np.ndarray:
  """[L, B, T, E] from an array or a sequence of L [B, T, E] arrays."""
  weights = np.asarray(np.stack(parent_weights) if isinstance(parent_weights, (list, tuple)) else parent_weights,
                       np.float64)
  if weights.ndim != 4:
    raise ValueError(f'parent_weights must be [L, B, T, E] or L arrays [B, T, E], got shape {weights.shape}.')
  return weights


def article_means(parent_weights, attention_mask) -> np.ndarray:
  """[B, L, E]: each row's parent weights per layer, averaged over its real tokens (attention_mask=1)."""
  weights = _stack(parent_weights)
  mask = np.asarray(attention_mask, np.float64)
  if mask.shape != weights.shape[1:3]:
    raise ValueError(f'attention_mask {mask.shape} must be parent_weights\' [B, T] = {weights.shape[1:3]}.')
  tokens = mask.sum(axis=1)
  if np.any(tokens == 0):
    raise ValueError('A row has no real token; drop padded rows first.')
  return np.einsum('lbte,bt->ble', weights, mask) / tokens[:, None, None]


def topic_means(per_article: np.ndarray, topics: np.ndarray, num_topics: int) -> np.ndarray:
  """[L, K, E]: the mean over each topic's articles of `per_article` [N, L, E] (articles weigh equally)."""
  per_article, topics = np.asarray(per_article, np.float64), np.asarray(topics)
  counts = np.bincount(topics, minlength=num_topics)
  if len(counts) > num_topics or np.any(counts == 0):
    raise ValueError(f'Every topic in 0..{num_topics - 1} needs an article; counts {counts.tolist()}.')
  sums = np.zeros((num_topics,) + per_article.shape[1:])
  np.add.at(sums, topics, per_article)
  return np.moveaxis(sums / counts[:, None, None], 0, 1)


def top_parents(parent_weights, attention_mask) -> tuple[np.ndarray, np.ndarray]:
  """(top parent [L, n] of each of the n real tokens, the row [n] each token comes from)."""
  weights = _stack(parent_weights)
  rows, positions = np.nonzero(np.asarray(attention_mask) > 0)
  return weights[:, rows, positions].argmax(axis=-1), rows


def top_parent_nmi(top: np.ndarray, topics: np.ndarray) -> np.ndarray:
  """[L]: NMI between each layer's top parents `top` [L, n] and the items' topics [n]."""
  return np.asarray([sk_metrics.normalized_mutual_info_score(topics, layer) for layer in np.asarray(top)])


def top_share(means: np.ndarray) -> np.ndarray:
  """[L]: mean over used parents of max_k w[k, e] / sum_k w[k, e], from `topic_means` [L, K, E]."""
  means = np.asarray(means, np.float64)
  totals = means.sum(axis=1)
  used = totals > 0
  share = np.divide(means.max(axis=1), totals, out=np.zeros_like(totals), where=used)
  return np.asarray([s[u].mean() if u.any() else np.nan for s, u in zip(share, used)])


def analyze(routing: dict, num_topics: int, seed: int = 0) -> dict:
  """Per-layer scores of one model's routing (see `collect_routing`); every value a list over layers."""
  article_topics = routing['topics']
  token_topics = article_topics[routing['token_articles']]
  shuffled = np.random.default_rng(seed).permutation(article_topics)[routing['token_articles']]
  means = topic_means(routing['article_means'], article_topics, num_topics)
  return {
      'nmi': top_parent_nmi(routing['top_parents'], token_topics).tolist(),
      'nmi_shuffled': top_parent_nmi(routing['top_parents'], shuffled).tolist(),
      'article_nmi': top_parent_nmi(routing['article_means'].argmax(-1).T, article_topics).tolist(),
      'top_share': top_share(means).tolist(),
      'topic_means': means,
  }


# ----------------------------------------------------------------------------
# I/O: config, training, forward passes, report.
# ----------------------------------------------------------------------------


def get_config(glue_dir: str, num_steps: int, eval_every: int, max_length: int):
  config = config_utils.load_config(f'{_CONFIG}:{_CONFIG_ARG}')
  config.data.glue_dir = glue_dir
  config.data.max_length = max_length
  config.train.num_steps = num_steps
  config.train.eval_every = eval_every
  return config


def load_models(config, delta_path: str):
  """(model, trained params, untrained params): the same backbone, the delta merged in or not."""
  task = tasks_lib.get_task(config.task)
  model, params = model_lib.from_pretrained(pretrained.resolve_checkpoint(config.model.checkpoint),
                                            config.method.name, task.num_labels, seed=config.seed,
                                            **train.model_specs(config))
  delta, _ = checkpoint.load_delta(delta_path, expect={'task': task.name, 'method': config.method.name,
                                                       'checkpoint': config.model.checkpoint})
  return model, partition.merge_trainable(params, delta), params


def make_forward(model):
  """forward(params, batch) -> (parent weights [L, B, T, E], logits [B, K])."""

  @jax.jit
  def forward(params, batch):
    out = model.apply({'params': params}, batch['input_ids'], batch['attention_mask'], batch['token_type_ids'])
    return jnp.stack(out['parent_weights']), out['logits']

  return forward


def collect_routing(forward, params, encoded: pipeline.Encoded, batch_size: int) -> dict:
  """Routing of every example: article_means [N, L, E], topics [N], top_parents [L, n], token_articles [n]
  (index into the N articles), accuracy; examples in `eval_batches` order."""
  means, topics, tops, token_articles, correct = [], [], [], [], []
  seen = 0
  for batch in pipeline.eval_batches(encoded, batch_size):
    real = batch['mask'] > 0
    weights, logits = jax.device_get(forward(params, {k: batch[k] for k in _MODEL_INPUTS}))
    weights, mask = np.asarray(weights)[:, real], batch['attention_mask'][real]
    means.append(article_means(weights, mask))
    top, rows = top_parents(weights, mask)
    tops.append(top)
    token_articles.append(rows + seen)
    topics.append(batch['label'][real])
    correct.append(np.asarray(logits)[real].argmax(-1) == batch['label'][real])
    seen += int(real.sum())
  return {'article_means': np.concatenate(means), 'topics': np.concatenate(topics),
          'top_parents': np.concatenate(tops, axis=1), 'token_articles': np.concatenate(token_articles),
          'accuracy': float(np.concatenate(correct).mean())}


def plot_heatmaps(trained: np.ndarray, untrained: np.ndarray, topic_names, path: str) -> str:
  """One row per layer: trained | untrained topics x parents mean weights, one color scale per row."""
  plt = common.pyplot()
  layers, _, parents = trained.shape
  fig, axes = plt.subplots(layers, 2, figsize=(13, 1.9 * layers + 0.6), squeeze=False, layout='constrained')
  for layer in range(layers):
    vmax = max(trained[layer].max(), untrained[layer].max())
    for ax, means, name in zip(axes[layer], (trained[layer], untrained[layer]), ('trained', 'untrained')):
      image = ax.imshow(means, aspect='auto', cmap='viridis', vmin=0, vmax=vmax)
      ax.set_yticks(range(len(topic_names)), topic_names, fontsize=8)
      ax.set_xticks(range(parents), range(parents), fontsize=7)
      ax.set_title(f'layer {layer}, {name}', fontsize=9)
    fig.colorbar(image, ax=axes[layer].tolist(), fraction=0.02, pad=0.01, label='weight')
  axes[-1][0].set_xlabel('parent')
  axes[-1][1].set_xlabel('parent')
  fig.suptitle('Mean parent weight per topic (test articles: mean over real tokens, then over articles)',
               fontsize=10)
  fig.savefig(path, dpi=110)
  plt.close(fig)
  return path


def plot_nmi(scores: dict, path: str) -> str:
  """Grouped bars per layer: token NMI trained, untrained, and the shuffled-topic chance level."""
  plt = common.pyplot()
  layers = np.arange(len(scores['trained']['nmi']))
  bars = [('trained', scores['trained']['nmi']), ('untrained', scores['untrained']['nmi']),
          ('trained, topics shuffled', scores['trained']['nmi_shuffled'])]
  fig, ax = plt.subplots(figsize=(7, 3.6))
  for i, (label, values) in enumerate(bars):
    ax.bar(layers + (i - 1) * 0.27, values, 0.27, label=label)
  ax.set_xticks(layers, [f'layer {l}' for l in layers])
  ax.set_ylabel('NMI(top parent, topic)')
  ax.set_title('Token-level NMI between top parent and article topic (BBC test)', fontsize=10)
  ax.legend(fontsize='small')
  fig.tight_layout()
  fig.savefig(path, dpi=120)
  plt.close(fig)
  return path


def format_report(command: str, config, results: dict, scores: dict, accuracy: dict, sizes: dict,
                  files) -> str:
  t, m = config.train, config.method.memory
  lines = [
      '# Do SPARTAN parents specialise by topic? (BBC News, MiniLM)', '', f'`{command}`', '',
      f'Training: `configs/glue.py:{_CONFIG_ARG}`, {t.num_steps} steps of batch {t.batch_size} (about '
      f'{t.num_steps * t.batch_size / sizes["train"]:.1f} epochs of {sizes["train"]:,} training articles), lr '
      f'{t.learning_rate}, max_length {config.data.max_length}, seed {config.seed}; memory E={m.num_parents} '
      f'parents, {m.memory_size} cells, top-{m.top_k}. Checkpoint kept: step {results["best_step"]}, the best '
      f'of every {t.eval_every} steps on a dev split of {sizes["dev"]} articles held out of train (dev accuracy '
      f'{100 * results["best_dev_score"]:.2f}%). Train time {results["seconds"]["train"]:.0f} s.', '',
      f'Test accuracy ({len(scores["topics"])} articles): trained {100 * results["test_score"]:.2f}% '
      f'(results.json; recomputed here: {100 * accuracy["trained"]:.2f}%); untrained memory and head '
      f'{100 * accuracy["untrained"]:.2f}%.', '',
      'Untrained = the same backbone with the memory and head that training started from (same seed). '
      'NMI: sklearn `normalized_mutual_info_score` over the real tokens of the test articles, top parent '
      '(argmax of parent weights) vs topic; "shuffled" permutes topics over articles (chance level given '
      'that one article\'s tokens route alike); "article" uses each article\'s top parent after averaging '
      'over its tokens. Top share: mean over parents of the largest topic\'s share of the parent\'s '
      f'per-topic weight (1/{len(scores["topic_names"])} = {1 / len(scores["topic_names"]):.2f} when blind).',
      '',
      '| layer | NMI trained | NMI untrained | NMI shuffled (trained) | article NMI trained | article NMI '
      'untrained | top share trained | top share untrained |',
      '|---|---|---|---|---|---|---|---|',
  ]
  tr, un = scores['trained'], scores['untrained']
  for layer in range(len(tr['nmi'])):
    lines.append(f"| {layer} | {tr['nmi'][layer]:.3f} | {un['nmi'][layer]:.3f} | {tr['nmi_shuffled'][layer]:.3f} | "
                 f"{tr['article_nmi'][layer]:.3f} | {un['article_nmi'][layer]:.3f} | "
                 f"{tr['top_share'][layer]:.3f} | {un['top_share'][layer]:.3f} |")
  mean = lambda key, s: float(np.mean(s[key]))
  lines.append(f"| mean | {mean('nmi', tr):.3f} | {mean('nmi', un):.3f} | {mean('nmi_shuffled', tr):.3f} | "
               f"{mean('article_nmi', tr):.3f} | {mean('article_nmi', un):.3f} | {mean('top_share', tr):.3f} | "
               f"{mean('top_share', un):.3f} |")
  lines += ['', 'Figures: ' + ', '.join(f'`{os.path.basename(f)}`' for f in files), '']
  return '\n'.join(lines)


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f'Unexpected arguments: {argv[1:]}')
  f = flags.FLAGS
  config = get_config(f.glue_dir, f.num_steps, f.eval_every, f.max_length)
  if os.path.exists(os.path.join(f.workdir, 'results.json')):
    train.check_workdir(f.workdir, config)  # Refuses a run of another config.
    with open(os.path.join(f.workdir, 'results.json')) as fp:
      results = json.load(fp)
  else:
    results = train.train_and_evaluate(config, f.workdir)

  task = tasks_lib.get_task(config.task)
  tokenizer = transformers.AutoTokenizer.from_pretrained(pretrained.resolve_checkpoint(config.model.checkpoint))
  examples = sources.load_examples(task, 'test', 'tsv', glue_dir=config.data.glue_dir)
  encoded = pipeline.encode(task, examples, tokenizer, config.data.max_length, config.data.buckets)
  model, trained, untrained = load_models(config, os.path.join(f.workdir, 'delta.safetensors'))
  forward = make_forward(model)
  routing = {name: collect_routing(forward, params, encoded, f.batch_size)
             for name, params in (('trained', trained), ('untrained', untrained))}
  scores = {name: analyze(r, task.num_labels, seed=config.seed) for name, r in routing.items()}
  scores |= {'topics': routing['trained']['topics'], 'topic_names': task.label_names}

  out = f.out
  os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
  files = [plot_heatmaps(scores['trained']['topic_means'], scores['untrained']['topic_means'], task.label_names,
                         f'{out}_heatmaps.png'),
           plot_nmi(scores, f'{out}_nmi.png')]
  command = common.command_line('experiments.specialization')
  accuracy = {name: r['accuracy'] for name, r in routing.items()}
  sizes = {name: len(examples) for name, examples in train.load_data(config, task).items() if name != 'test'}
  text = format_report(command, config, results, scores, accuracy, sizes, files)
  with open(f'{out}.md', 'w') as fp:
    fp.write(text)
  print(text)


if __name__ == '__main__':
  flags.DEFINE_string('workdir', None, 'Training workdir; reused (no training) when it holds results.json.')
  flags.DEFINE_string('out', None, 'Output path without extension: <out>.md, <out>_heatmaps.png, <out>_nmi.png.')
  flags.DEFINE_string('glue_dir', '../shared/data/topics', 'The folder holding bbc_news/.')
  flags.DEFINE_integer('num_steps', 150, 'Training steps.')
  flags.DEFINE_integer('eval_every', 50, 'Steps between dev evals and checkpoints.')
  flags.DEFINE_integer('max_length', 128, 'Tokens per article, special tokens included.')
  flags.DEFINE_integer('batch_size', 32, 'Analysis batch size.')
  flags.mark_flags_as_required(['workdir', 'out'])
  app.run(main)
