"""Scalars to the log, a JSON-lines file and TensorBoard, in one call."""

import json
import os

from absl import logging
from tensorboardX import SummaryWriter


def _drop_steps_after(path: str, step: int) -> None:
  """Rewrites the JSON-lines file without the records of steps after `step` (atomically)."""
  with open(path, encoding='utf-8') as f:
    kept = [line for line in f if line.strip() and json.loads(line)['step'] <= step]
  with open(path + '.tmp', 'w', encoding='utf-8') as f:
    f.writelines(kept)
  os.replace(path + '.tmp', path)


class MetricWriter:
  """Appends to <workdir>/metrics.jsonl and <workdir>/tensorboard (only to the log when not `to_files`). A
  run resumed from `start_step` first drops what an interrupted run logged after it, so every step is logged
  once."""

  def __init__(self, workdir: str, start_step: int = 0, to_files: bool = True):
    self._to_files = to_files
    if not to_files:
      return
    path = os.path.join(workdir, 'metrics.jsonl')
    if start_step and os.path.exists(path):
      _drop_steps_after(path, start_step)
    self._jsonl = open(path, 'a', encoding='utf-8')
    self._tensorboard = SummaryWriter(os.path.join(workdir, 'tensorboard'),
                                      purge_step=start_step + 1 if start_step else None)

  def write(self, step: int, scalars: dict[str, float]) -> None:
    scalars = {k: float(v) for k, v in scalars.items()}
    logging.info('step %d: %s', step, ', '.join(f'{k}={v:.4g}' for k, v in sorted(scalars.items())))
    if not self._to_files:
      return
    self._jsonl.write(json.dumps({'step': step, **scalars}) + '\n')
    self._jsonl.flush()
    for name, value in scalars.items():
      self._tensorboard.add_scalar(name, value, step)

  def close(self) -> None:
    if not self._to_files:
      return
    self._jsonl.close()
    self._tensorboard.close()
