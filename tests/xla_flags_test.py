"""The library's XLA CPU defaults: flag merging, and their effect on the compiled program."""

import os
import subprocess
import sys

from absl.testing import absltest

from spartan_jax import xla_flags

_FLAG = 'xla_cpu_experimental_ynn_fusion_type'
# Prints whether XLA routed a dot and a reduction to YNNPACK library fusions.
_PROBE = r'''
import spartan_jax
import jax, jax.numpy as jnp
x = jnp.ones((256, 384))
text = jax.jit(lambda a, w: (a @ w).sum(-1)).lower(x, x.T).compile().as_text()
print('ynn' if 'ynn_fusion' in text else 'xla')
'''


def _probe(**env) -> str:
  base = {k: v for k, v in os.environ.items() if k not in ('XLA_FLAGS', xla_flags.OPT_OUT)}
  out = subprocess.run([sys.executable, '-c', _PROBE], env={**base, 'JAX_PLATFORMS': 'cpu', **env},
                       capture_output=True, text=True, check=True)
  return out.stdout.strip().splitlines()[-1]


class WithDefaultsTest(absltest.TestCase):

  def test_adds_missing_defaults(self):
    self.assertEqual(xla_flags.with_defaults('', {'a': '', 'b': '2'}), '--a= --b=2')
    self.assertEqual(xla_flags.with_defaults('--x=1', {'a': '1'}), '--x=1 --a=1')

  def test_keeps_the_users_value(self):
    self.assertEqual(xla_flags.with_defaults(f'--{_FLAG}=dot', {_FLAG: ''}), f'--{_FLAG}=dot')
    self.assertEqual(xla_flags.with_defaults(f' --{_FLAG} ', {_FLAG: ''}), f'--{_FLAG}')


class CompiledProgramTest(absltest.TestCase):

  def test_defaults_keep_dots_in_xla(self):
    self.assertEqual(_probe(), 'xla')

  def test_opt_out_leaves_jaxlib_default(self):
    # If this fails, jaxlib no longer uses YNNPACK by default and the flag can go.
    self.assertEqual(_probe(**{xla_flags.OPT_OUT: '0'}), 'ynn')

  def test_user_flag_wins(self):
    self.assertEqual(_probe(XLA_FLAGS=f'--{_FLAG}=dot'), 'ynn')


if __name__ == '__main__':
  absltest.main()
