r"""Trainable parameters per method, from shapes only (`jax.eval_shape`, no weights).

  python -m experiments.param_counts --out=experiments/results/param_counts.md

For each encoder (roberta-base and all-MiniLM-L6-v2 shapes, num_labels=2) and method: the
trainable count, the parameters the method adds to the pretrained encoder (memory, adapters, LoRA
factors, head), both as % of the encoder ("backbone": embeddings + layers), and the float32 bytes
of the trainable subtree, i.e. the per-task checkpoint (x3 with AdamW's two moments).
"""


from absl import app
from absl import flags
import jax
import jax.numpy as jnp
import numpy as np
from flax import traverse_util

from experiments import benchmark
from experiments import common
from spartan_jax import partition
from spartan_jax.models import model as model_lib
from spartan_jax.models import peft
from spartan_jax.models import pretrained

MODELS = ('roberta-base', 'minilm')


def param_shapes(config, method: str, num_labels: int = 2, pooling: str = 'auto') -> dict:
  model = model_lib.build_model(config, method, num_labels, pooling=pooling)
  ids = jax.ShapeDtypeStruct((1, 8), jnp.int32)
  return jax.eval_shape(model.init, jax.random.key(0), ids, ids)['params']


def _size(leaves) -> int:
  return sum(int(np.prod(leaf.shape)) for leaf in leaves)


def count_rows(config, methods=peft.METHODS, num_labels: int = 2, pooling: str = 'auto') -> list[dict]:
  """One dict per method: trainable, added, backbone counts and trainable float32 bytes."""
  rows = []
  for method in methods:
    shapes = param_shapes(config, method, num_labels, pooling)
    labels = partition.param_labels(shapes, peft.trainable_rules(method))
    flat = traverse_util.flatten_dict(shapes, sep='/')
    backbone = [v for p, v in flat.items() if p.startswith('encoder/') and peft.is_backbone(p)]
    trainable = partition.trainable_subtree(shapes, labels)
    rows.append({
        'method': method,
        'trainable': partition.count_params(shapes, labels)['trainable'],
        'added': _size(flat.values()) - _size(backbone),
        'backbone': _size(backbone),
        'bytes': sum(int(np.prod(v.shape)) * jnp.dtype(v.dtype).itemsize for v in jax.tree.leaves(trainable)),
    })
  return rows


def _mb(n: int) -> str:
  return f'{n / 2**20:.2f}' if n < 100 * 2**20 else f'{n / 2**20:.0f}'


def format_table(rows) -> str:
  lines = ['| method | trainable params | % of backbone | added params | % of backbone | '
           'checkpoint MiB (f32) | + AdamW moments MiB |', '|---|---|---|---|---|---|---|']
  for r in rows:
    lines.append(f"| {r['method']} | {r['trainable']:,} | {100 * r['trainable'] / r['backbone']:.3f} | "
                 f"{r['added']:,} | {100 * r['added'] / r['backbone']:.3f} | {_mb(r['bytes'])} | "
                 f"{_mb(3 * r['bytes'])} |")
  return '\n'.join(lines)


def report(models=MODELS, num_labels: int = 2) -> str:
  parts = []
  for name in models:
    config = benchmark.encoder_config(name)
    # The pooling a run would use; only the packaged checkpoint is asked (no download).
    local = pretrained.resolve_checkpoint(name) if name == pretrained.PACKAGED_MINILM else None
    pooling = model_lib.resolve_pooling('auto', config.model_type, local)
    rows = count_rows(config, num_labels=num_labels, pooling=pooling)
    parts += [f'## {name} ({config.num_hidden_layers} layers, H={config.hidden_size}, backbone '
              f"{rows[0]['backbone']:,} params), num_labels={num_labels}, {pooling} pooling", '',
              format_table(rows), '']
  return '\n'.join(parts)


def main(argv):
  del argv
  text = '\n'.join([
      '# Trainable parameters per method', '',
      f"`{common.command_line('experiments.param_counts')}`", '',
      f'Defaults: {peft.MemorySpec()}, {peft.AdapterSpec()}, {peft.LoRASpec()}. Backbone = the '
      'pretrained encoder (embeddings + layers); "added" = everything else (head, memories, '
      'adapters, LoRA factors).', '',
      report(num_labels=flags.FLAGS.num_labels)])
  common.emit(text, flags.FLAGS.out)


if __name__ == '__main__':
  flags.DEFINE_string('out', '', 'Also write the markdown here.')
  flags.DEFINE_integer('num_labels', 2, 'Head outputs.')
  app.run(main)
