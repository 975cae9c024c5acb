"""Scalars to the log, a JSON-lines file and TensorBoard, in one call."""

import json
import os

from absl import logging
from tensorboardX import SummaryWriter


class MetricWriter:

  def __init__(self, workdir: str):
    self._jsonl = open(os.path.join(workdir, 'metrics.jsonl'), 'a', encoding='utf-8')
    self._tensorboard = SummaryWriter(os.path.join(workdir, 'tensorboard'))

  def write(self, step: int, scalars: dict[str, float]) -> None:
    scalars = {k: float(v) for k, v in scalars.items()}
    logging.info('step %d: %s', step, ', '.join(f'{k}={v:.4g}' for k, v in sorted(scalars.items())))
    self._jsonl.write(json.dumps({'step': step, **scalars}) + '\n')
    self._jsonl.flush()
    for name, value in scalars.items():
      self._tensorboard.add_scalar(name, value, step)

  def close(self) -> None:
    self._jsonl.close()
    self._tensorboard.close()
