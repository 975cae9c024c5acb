"""Trains and evaluates one config: python -m spartan_jax.main --config=configs/glue.py:sst2 --workdir=DIR.

Kept short so the logic lives in `train.py`, importable from tests and notebooks.
"""

import logging as pylogging
import sys

from absl import app
from absl import flags
from absl import logging
import jax
from ml_collections import config_flags

from spartan_jax import checkpoint
from spartan_jax import config_validation
from spartan_jax import sharding
from spartan_jax import train

_CONFIG = config_flags.DEFINE_config_file('config', None, 'A configs/*.py file, with :ARG.', lock_config=True)
_WORKDIR = flags.DEFINE_string('workdir', None, 'Checkpoints, metrics and results.json go here; rerun to resume. '
                               'Default: workdirs/<task>-<method>-<protocol>-<seed>.')
# jax.distributed.initialize's arguments; none given: auto-detected on a cluster (TPU, SLURM, Open MPI).
_COORDINATOR = flags.DEFINE_string('coordinator_address', None, 'Multi-process: host:port of process 0.')
_NUM_PROCESSES = flags.DEFINE_integer('num_processes', None, 'Multi-process: how many processes.')
_PROCESS_ID = flags.DEFINE_integer('process_id', None, 'Multi-process: this process, 0..num_processes-1.')


def _quiet_libraries(record) -> bool:
  """Keeps orbax's per-save INFO lines out of the log; its warnings stay."""
  return record.levelno >= pylogging.WARNING or '/orbax/' not in record.pathname


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f'Unexpected arguments: {argv[1:]}')
  logging.get_absl_logger().addFilter(_quiet_libraries)
  sharding.initialize(_COORDINATOR.value, _NUM_PROCESSES.value, _PROCESS_ID.value)
  config = _CONFIG.value
  workdir = _WORKDIR.value or f'workdirs/{config.task}-{config.method.name}-{config.data.protocol}-{config.seed}'
  logging.info('Config:\n%s', config)
  try:
    results = train.train_and_evaluate(config, workdir)
  except (config_validation.ConfigError, train.DivergenceError, train.WorkdirInUseError,
          checkpoint.CheckpointError) as e:
    sys.exit(f'{type(e).__name__}: {e}')  # Exit status 1, no traceback: the message says what to change.
  if jax.process_index() == 0:  # The others wrote no files.
    print(f"{results['task']} {results['method']}: test {results['test']} "
          f"({results['params']['trainable']:,} trainable params, {results['delta_bytes']:,} bytes per task); "
          f'results in {workdir}/results.json')


if __name__ == '__main__':
  flags.mark_flag_as_required('config')
  app.run(main)
