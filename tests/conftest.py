"""Four CPU devices, set before any JAX computation, so data-parallel code runs on a CPU."""

from absl import flags
import jax

jax.config.update('jax_num_cpu_devices', 4)
flags.FLAGS.mark_as_parsed()  # absltest's create_tempdir reads flags; pytest does not parse them.
