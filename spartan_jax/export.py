r"""ONNX export of a trained run (or of several tasks sharing one backbone), with an int8 variant.

  python -m spartan_jax.export --workdir=workdirs/demo --out=exported/demo
  # Several runs of one backbone and method: one model with a `task_ids` input (see multitask.py).
  python -m spartan_jax.export --workdir=workdirs/sst2,workdirs/rte --out=exported/multi

DIR gets `model.onnx` (float32), `model.int8.onnx` (ONNX Runtime dynamic quantization: int8 weights of
the matrix products, activations quantized per call), the tokenizer files and `deploy.json` (tasks,
label names, max length, inputs). Inputs are int32 `input_ids`, `attention_mask`, `token_type_ids`
[batch, sequence] (and `task_ids` [batch] for several tasks), batch and sequence length both dynamic;
the output is float32 `logits` [batch, num_labels]. LoRA is folded into the weights first.
Needs the `export` extra: pip install -e ".[export]".
"""

import json
import logging
import os
import sys

from absl import app
from absl import flags
import jax
import jax.numpy as jnp

from spartan_jax import inference
from spartan_jax import multitask

FLAGS = flags.FLAGS
INPUT_NAMES = ('input_ids', 'attention_mask', 'token_type_ids')


def _jax2onnx():
  try:
    import jax2onnx  # pylint: disable=import-outside-toplevel
  except ImportError:
    raise ImportError('ONNX export needs jax2onnx: pip install -e ".[export]".') from None
  # Per-plugin import errors of plugins we never use (dm_pix) and per-tensor serialisation notes.
  for name in ('jax2onnx.plugins.plugin_system', 'onnx_ir.serde'):
    logging.getLogger(name).setLevel(logging.ERROR)
  return jax2onnx


def _as_lax(fn, specs):
  """fn traced by plain JAX and replayed as lax primitives only.

  jax2onnx swaps flax modules for its own primitives while tracing, and those have no batching
  rules, so the multi-task model (jax.vmap over examples) is traced first without them. Dead outputs
  (the load-balancing loss) are dropped: JAX 0.10's `stack` primitive has no converter.
  """
  from jax._src.interpreters import partial_eval as pe  # pylint: disable=import-outside-toplevel
  closed = jax.make_jaxpr(fn)(*specs)
  jaxpr, _ = pe.dce_jaxpr(closed.jaxpr, [True] * len(closed.jaxpr.outvars))
  return lambda *xs: jax.core.eval_jaxpr(jaxpr, closed.consts, *xs)[0]


def to_onnx(fn, path: str, multitask_inputs: bool = False) -> str:
  """Converts fn(input_ids, attention_mask, token_type_ids[, task_ids]) -> logits; writes `path`."""
  converter = _jax2onnx()
  batch, sequence = jax.export.symbolic_shape('batch, sequence')
  specs = [jax.ShapeDtypeStruct((batch, sequence), jnp.int32)] * 3
  names = list(INPUT_NAMES)
  if multitask_inputs:
    specs.append(jax.ShapeDtypeStruct((batch,), jnp.int32))
    names.append('task_ids')
    fn = _as_lax(fn, specs)
  model = converter.to_onnx(fn, specs, model_name='spartan_jax', input_names=names, output_names=['logits'])
  with open(path, 'wb') as f:
    f.write(model.SerializeToString())
  return path


def quantize(path: str, out_path: str) -> str:
  """int8 weights by ONNX Runtime's dynamic quantization."""
  from onnxruntime.quantization import QuantType, quantize_dynamic  # pylint: disable=import-outside-toplevel
  quantize_dynamic(path, out_path, weight_type=QuantType.QInt8)
  return out_path


def single_task_fn(model, params):
  """The logits function of one task, LoRA folded in, params as constants."""
  model, params = inference.deployable(model, params)
  return lambda ids, mask, types: model.apply({'params': params}, ids, mask, types)['logits']


def export_runs(workdirs: list[str], out_dir: str, int8: bool = True) -> dict:
  """Exports one run, or several as one multi-task model; returns deploy.json's content."""
  runs = [inference.load_run(w) for w in workdirs]
  os.makedirs(out_dir, exist_ok=True)
  if len(runs) == 1:
    fn = single_task_fn(runs[0].model, runs[0].params)
  else:
    fn = multitask.make_logits_fn(multitask.stack(runs))
  path = to_onnx(fn, os.path.join(out_dir, 'model.onnx'), multitask_inputs=len(runs) > 1)
  files = {'float32': os.path.basename(path)}
  if int8:
    files['int8'] = os.path.basename(quantize(path, os.path.join(out_dir, 'model.int8.onnx')))
  # tokenizer.json truncates as training did and pads to the longest: usable without transformers.
  tokenizer = runs[0].tokenizer
  tokenizer.backend_tokenizer.enable_truncation(max(r.max_length for r in runs))
  tokenizer.backend_tokenizer.enable_padding(pad_id=tokenizer.pad_token_id, pad_token=tokenizer.pad_token)
  tokenizer.save_pretrained(out_dir)
  info = {
      'files': files, 'inputs': list(INPUT_NAMES) + (['task_ids'] if len(runs) > 1 else []),
      'method': runs[0].method, 'backbone': runs[0].backbone,
      'tasks': [{'task_id': i, 'task': r.task.name, 'workdir': r.workdir, 'max_length': r.max_length,
                 'label_names': list(r.task.label_names), 'num_labels': r.task.num_labels}
                for i, r in enumerate(runs)],
  }
  with open(os.path.join(out_dir, 'deploy.json'), 'w') as f:
    json.dump(info, f, indent=2)
  return info


def define_flags():
  """The command line's flags (defined only when run as a program, so the library imports cleanly)."""
  flags.DEFINE_list('workdir', None, 'A finished training run, or several (comma-separated) of the '
                    'same backbone and method for one multi-task model.')
  flags.DEFINE_string('out', None, 'Output directory.')
  flags.DEFINE_bool('quantize', True, 'Also write model.int8.onnx.')


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f'Unexpected arguments: {argv[1:]}')
  info = export_runs(FLAGS.workdir, FLAGS.out, FLAGS.quantize)
  print(f"Wrote {', '.join(info['files'].values())}, the tokenizer and deploy.json to {FLAGS.out}",
        file=sys.stderr)


if __name__ == '__main__':
  define_flags()
  flags.mark_flags_as_required(['workdir', 'out'])
  app.run(main)
