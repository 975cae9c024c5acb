r"""How far the int8 ONNX model drifts from float32: agreement of predictions on a labelled split.

  python -m experiments.int8_agreement --workdir=workdirs/demo --export_dir=exported/demo \
      --glue_dir=../shared/data/glue --out=experiments/results/int8_agreement_demo.md

Reads `model.onnx` and `model.int8.onnx` from --export_dir (written by `spartan_jax.export`), runs
both in ONNX Runtime on the split (the run's task, its tokenizer and max length) and reports the
fraction of identical predictions, each model's metrics and the largest logit difference.
"""

import os
import time

from absl import app
from absl import flags
import numpy as np
import onnxruntime as ort

from experiments import benchmark
from experiments import common
from spartan_jax import inference
from spartan_jax import metrics as metrics_lib
from spartan_jax.data import pipeline
from spartan_jax.data import sources


def onnx_logits(path: str, encoded: pipeline.Encoded, batch_size: int = 64) -> np.ndarray:
  session = ort.InferenceSession(path, providers=['CPUExecutionProvider'])
  out = None
  for batch in pipeline.eval_batches(encoded, batch_size):
    logits = session.run(['logits'], {k: batch[k] for k in ('input_ids', 'attention_mask', 'token_type_ids')})[0]
    out = np.zeros((len(encoded), logits.shape[-1]), np.float32) if out is None else out
    real = batch['mask'] > 0
    out[batch['idx'][real]] = logits[real]  # idx is the position in the split.
  return out


def agreement(run: inference.Run, export_dir: str, examples) -> dict:
  encoded = pipeline.encode(run.task, examples, run.tokenizer, run.max_length)
  fp32, int8 = (onnx_logits(os.path.join(export_dir, name), encoded)
                for name in ('model.onnx', 'model.int8.onnx'))
  pick = (lambda x: x[:, 0]) if run.task.is_regression else (lambda x: x.argmax(-1))
  return {'examples': len(examples), 'agreement': float(np.mean(pick(fp32) == pick(int8))),
          'max_abs_logit_diff': float(np.abs(fp32 - int8).max()),
          'fp32': metrics_lib.compute_metrics(run.task, pick(fp32), encoded.label),
          'int8': metrics_lib.compute_metrics(run.task, pick(int8), encoded.label)}


def define_flags():
  """Defined only when run as a script (importing this module must not clash with other flags)."""
  flags.DEFINE_string('workdir', None, 'The trained run that was exported.')
  flags.DEFINE_string('export_dir', None, 'Its export (model.onnx and model.int8.onnx).')
  flags.DEFINE_string('glue_dir', None, 'GLUE TSV root holding the split; unset: TFDS.')
  flags.DEFINE_string('split', 'validation', "A labelled split of the run's task.")
  flags.DEFINE_string('out', '', 'Also write the markdown here.')


def main(argv):
  del argv
  f = flags.FLAGS
  start = time.time()
  run = inference.load_run(f.workdir)
  source = 'tsv' if f.glue_dir else 'tfds'
  examples = sources.load_examples(run.task, f.split, source, glue_dir=f.glue_dir)
  r = agreement(run, f.export_dir, examples)
  command = common.command_line('experiments.int8_agreement')
  lines = common.header(f'int8 against float32 ONNX: {run.task.name} {f.split}, {run.method}', command,
                           start, f'ONNX Runtime {ort.__version__}, dynamic int8 quantization of the weights.')
  lines += [f'| model | {" | ".join(r["fp32"])} |', '|---|' + '---:|' * len(r['fp32'])]
  lines += [f'| {name} | {" | ".join(f"{v:.4f}" for v in r[name].values())} |' for name in ('fp32', 'int8')]
  lines += ['', f'Identical predictions: {r["agreement"]:.4f} of {r["examples"]} examples; largest |logit '
            f'difference|: {r["max_abs_logit_diff"]:.4f}.', '']
  common.emit('\n'.join(lines), f.out)


if __name__ == '__main__':
  define_flags()
  flags.mark_flags_as_required(['workdir', 'export_dir'])
  app.run(main)
