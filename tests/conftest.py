"""Test-session setup, before any JAX computation.

- Four CPU devices, so data-parallel code runs on a CPU.
- XLA compiles with LLVM's optimisations off (`--xla_backend_optimization_level=0`, unless $XLA_FLAGS sets
  it): the suite spends most of its time compiling small programs, and this halves that. The HLO passes
  are the same; the machine code is less optimised, which moves float results only in the last bits.
  Users and benchmarks compile at the full level.
- One compilation cache per pytest run, shared by its xdist workers and the subprocesses tests start: a
  program compiled once (the same tiny model built by another test, the same training step in another
  process) is read back instead of compiled again. It starts empty, so a run stays cold, and is removed at
  the end. A `JAX_COMPILATION_CACHE_DIR` set by the caller is used instead, and kept.
These are environment variables, so xdist workers and subprocesses inherit them.
"""

import os
import shutil
import tempfile

# JAX reads these when it is imported.
_OWN_CACHE = 'JAX_COMPILATION_CACHE_DIR' not in os.environ  # Workers inherit the controller's.
if _OWN_CACHE:
  os.environ['JAX_COMPILATION_CACHE_DIR'] = tempfile.mkdtemp(prefix='spartan_jax_tests_jit_')
os.environ['JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS'] = '0'

from absl import flags  # pylint: disable=g-import-not-at-top,wrong-import-position
import jax  # pylint: disable=g-import-not-at-top,wrong-import-position

from spartan_jax import xla_flags  # pylint: disable=g-import-not-at-top,wrong-import-position

jax.config.update('jax_num_cpu_devices', 4)
flags.FLAGS.mark_as_parsed()  # absltest's create_tempdir reads flags; pytest does not parse them.
# Read when the backend starts, at the first computation.
os.environ['XLA_FLAGS'] = xla_flags.with_defaults(os.environ.get('XLA_FLAGS', ''),
                                                  {'xla_backend_optimization_level': '0'})


def pytest_sessionfinish(session):
  del session
  if _OWN_CACHE:  # The controller, after its workers; or a plain run.
    shutil.rmtree(os.environ['JAX_COMPILATION_CACHE_DIR'], ignore_errors=True)
