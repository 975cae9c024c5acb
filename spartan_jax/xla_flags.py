"""XLA flags the library sets when it is imported, before JAX starts its backends.

On CPU, jaxlib 0.10 hands dots, reductions and some elementwise fusions to the YNNPACK library. On the
BERT encoder that runs at ~0.6x the speed of XLA's own CPU emitters (forward, MiniLM, 16x128; see
experiments/results/benchmark_frameworks_minilm_cpu.md), so an empty YNN fusion-type list turns it off.
The flag only concerns the CPU backend. A flag already in $XLA_FLAGS keeps the user's value;
SPARTAN_JAX_XLA_DEFAULTS=0 turns these defaults off. Importing spartan_jax after JAX has compiled
something leaves the running backend as it was.
"""

import os

CPU_DEFAULTS = {'xla_cpu_experimental_ynn_fusion_type': ''}
OPT_OUT = 'SPARTAN_JAX_XLA_DEFAULTS'


def with_defaults(xla_flags: str, defaults: dict[str, str] = CPU_DEFAULTS) -> str:
  """`xla_flags` plus `--name=value` for every default whose name it does not already set."""
  present = {f.lstrip('-').split('=', 1)[0] for f in xla_flags.split()}
  extra = [f'--{name}={value}' for name, value in defaults.items() if name not in present]
  return ' '.join([xla_flags.strip(), *extra]).strip()


def apply() -> None:
  if os.environ.get(OPT_OUT, '1') != '0':
    os.environ['XLA_FLAGS'] = with_defaults(os.environ.get('XLA_FLAGS', ''))
