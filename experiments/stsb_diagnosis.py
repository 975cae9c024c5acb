r"""Why few-shot STS-B fails on MiniLM: linear probes and zero-shot cosine on the frozen encoder.

  python -m experiments.stsb_diagnosis --glue_dir=../shared/data/glue --out=experiments/results/stsb_diagnosis.md

all-MiniLM-L6-v2 was trained as a bi-encoder: each sentence embedded alone (mean pooling), pairs compared
by cosine. GLUE fine-tuning, as in the SPARTAN paper, encodes a pair as one sequence ([CLS] a [SEP] b [SEP]).
This script reads the frozen encoder both ways, on LM-BFF's 16-shot STS-B splits (seeds 13 21 42), and
scores each reading on the GLUE dev set (Pearson / Spearman, x100):
  pair, cls_pooler   the pair as one sequence, BERT's pooler on [CLS] (the head before pooling followed the
                     checkpoint) -> ridge probe fit on the 32 training pairs
  pair, mean         the pair as one sequence, mean of its tokens -> ridge probe
  apart, cosine      each sentence alone, mean pooling, cosine of the two (no training at all)
  apart, [abs(u-v), u*v]  each sentence alone, mean pooling, the usual sentence-pair features -> ridge probe
Ridge's penalty is chosen by leave-one-out on the training pairs (sklearn RidgeCV); dev is never used to fit.
"""


from absl import app
from absl import flags
import jax
import numpy as np
import scipy.stats
from sklearn import linear_model
import transformers

from experiments import common
from spartan_jax.data import kshot
from spartan_jax.data import pipeline
from spartan_jax.data import sources
from spartan_jax.models import model as model_lib
from spartan_jax.models import pretrained

_K = 16
_MAX_LENGTH = 128


def make_features(checkpoint: str = pretrained.PACKAGED_MINILM):
  """features(examples, as_pairs) -> {'cls_pooler', 'mean'}: [N, H] arrays of the frozen encoder, in order."""
  checkpoint_dir = pretrained.resolve_checkpoint(checkpoint)
  tokenizer = transformers.AutoTokenizer.from_pretrained(checkpoint_dir)
  model, params = model_lib.from_pretrained(checkpoint_dir, 'head_only', num_labels=1, pooling='cls_pooler')
  pooler = params['head']['pooler']

  @jax.jit
  def embed(batch):
    hidden = model.apply({'params': params}, batch['input_ids'], batch['attention_mask'],
                         batch['token_type_ids'])['last_hidden_state']
    mask = batch['attention_mask'][..., None]
    return {'cls_pooler': jax.numpy.tanh(hidden[:, 0] @ pooler['kernel'] + pooler['bias']),
            'mean': (hidden * mask).sum(1) / mask.sum(1)}

  def features(examples, as_pairs: bool) -> dict[str, np.ndarray]:
    rows = [dict(e, idx=i, label=0 if not as_pairs else e['label']) for i, e in enumerate(examples)]
    encoded = pipeline.encode('stsb' if as_pairs else 'sst2', rows, tokenizer, _MAX_LENGTH)
    out = {}
    for batch in pipeline.eval_batches(encoded, 64):
      real = batch['idx'] >= 0
      for name, values in embed(batch).items():
        out.setdefault(name, np.zeros((len(rows), values.shape[-1]), np.float32))[batch['idx'][real]] = \
            np.asarray(values)[real]
    return out

  return features


def _apart(features, examples) -> tuple[np.ndarray, np.ndarray]:
  """Mean-pooled embeddings of each pair's first and second sentence."""
  u = features([dict(e, text_b=None) for e in examples], as_pairs=False)['mean']
  v = features([dict(e, text_a=e['text_b'], text_b=None) for e in examples], as_pairs=False)['mean']
  return u, v


def _cosine(u, v):
  return (u * v).sum(-1) / (np.linalg.norm(u, axis=-1) * np.linalg.norm(v, axis=-1))


def _scores(predictions, labels) -> tuple[float, float]:
  return (100 * scipy.stats.pearsonr(predictions, labels)[0], 100 * scipy.stats.spearmanr(predictions, labels)[0])


def _probe(train_x, train_y, test_x):
  ridge = linear_model.RidgeCV(alphas=np.logspace(-3, 3, 13)).fit(train_x, train_y)
  return ridge.predict(test_x)


def diagnose(glue_dir: str, seeds, features) -> dict[str, list[tuple[float, float]]]:
  """{reading: [(pearson, spearman) per seed]} on the GLUE dev set."""
  train = sources.load_examples('stsb', 'train', 'tsv', glue_dir=glue_dir)
  dev = sources.load_examples('stsb', 'validation', 'tsv', glue_dir=glue_dir)
  dev_y = np.asarray([e['label'] for e in dev])
  dev_pair = features(dev, as_pairs=True)
  dev_u, dev_v = _apart(features, dev)
  pair_features = lambda u, v: np.concatenate([np.abs(u - v), u * v], axis=-1)
  results = {name: [] for name in ('pair, cls_pooler', 'pair, mean', 'apart, cosine', 'apart, [abs(u-v), u*v]')}
  for seed in seeds:
    split = kshot.make_splits('stsb', train, {'validation': dev}, 'lmbff', k=_K, seed=int(seed))['train']
    y = np.asarray([e['label'] for e in split])
    pair = features(split, as_pairs=True)
    u, v = _apart(features, split)
    results['pair, cls_pooler'].append(_scores(_probe(pair['cls_pooler'], y, dev_pair['cls_pooler']), dev_y))
    results['pair, mean'].append(_scores(_probe(pair['mean'], y, dev_pair['mean']), dev_y))
    results['apart, cosine'].append(_scores(_cosine(dev_u, dev_v), dev_y))
    results['apart, [abs(u-v), u*v]'].append(
        _scores(_probe(pair_features(u, v), y, pair_features(dev_u, dev_v)), dev_y))
  return results


def to_markdown(results, seeds, command: str) -> str:
  lines = ['# Few-shot STS-B on the frozen all-MiniLM-L6-v2: how the pair is read', '', 'Made by:', '',
           f'    {command}', '',
           f'LM-BFF 16-shot training pairs (seeds {" ".join(seeds)}), test = the GLUE STS-B dev set (1,500 pairs). '
           'Mean ± sample std over seeds (cosine needs no training: one value).', '',
           '| reading of the pair | trained on | Pearson | Spearman |', '|---|---|---:|---:|']
  for name, per_seed in results.items():
    pearson, spearman = np.asarray(per_seed).T
    fmt = lambda x: f'{x.mean():.1f}' + (f' ± {x.std(ddof=1):.1f}' if len(x) > 1 and x.std() > 0 else '')
    trained = 'nothing' if name == 'apart, cosine' else '32 pairs (ridge probe)'
    lines.append(f'| {name} | {trained} | {fmt(pearson)} | {fmt(spearman)} |')
  return '\n'.join(lines) + '\n'


def define_flags():
  """Defined only when run as a script (importing this module must not clash with other flags)."""
  flags.DEFINE_string('glue_dir', '../shared/data/glue', 'GLUE TSVs (STS-B/train.tsv, dev.tsv).')
  flags.DEFINE_string('out', None, 'Also write the markdown table here.')
  flags.DEFINE_list('seeds', ['13', '21', '42'], 'LM-BFF split seeds.')


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f'Unexpected arguments: {argv[1:]}')
  f = flags.FLAGS
  results = diagnose(f.glue_dir, f.seeds, make_features())
  text = to_markdown(results, f.seeds, common.command_line('experiments.stsb_diagnosis'))
  print(text)
  if f.out:
    with open(f.out, 'w') as out:
      out.write(text)


if __name__ == '__main__':
  define_flags()
  app.run(main)
