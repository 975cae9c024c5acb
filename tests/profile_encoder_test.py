"""experiments/profile_encoder.py: op names map to model parts; a traced call yields per-part times."""

import os
import sys

from absl.testing import absltest
from absl.testing import parameterized

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # experiments/ is not installed.
from experiments import profile_encoder as pe  # pylint: disable=g-import-not-at-top
import helpers

_ROOT = 'jit(f)/SequenceClassifier/encoder'


class PartOfTest(parameterized.TestCase):

  @parameterized.parameters(
      (f'{_ROOT}/layer_0/attention/query/dot_general', 'attention projections'),
      (f'{_ROOT}/layer_3/attention/bqhd,bkhd->bhqk/dot_general', 'attention core (scores, softmax, context)'),
      (f'{_ROOT}/layer_1/intermediate/dot_general', 'feed-forward matmuls'),
      (f'{_ROOT}/layer_1/output_layer_norm/reduce_sum', 'LayerNorm (with its residual add)'),
      (f'{_ROOT}/layer_1/mul', 'GELU and other elementwise'),
      (f'{_ROOT}/memory_2/dot_general', 'SPARTAN memory'),
      (f'{_ROOT}/layer_1/Dropout_0/random_bits', 'dropout'),
      (f'jit(f)/transpose(jvp(SequenceClassifier))/encoder/layer_0/intermediate/dot_general',
       'backward: feed-forward matmuls'),
      ('jit(f)/SequenceClassifier/head/classifier/dot_general', 'head'),
      ('jit(f)/adam/mul', 'optimizer and other'),
  )
  def test_part(self, op_name, part):
    self.assertEqual(pe.part_of(op_name), part)


class ProfileTest(absltest.TestCase):

  def test_cases_are_profiled_by_part(self):
    hf_config, _, state = helpers.load_golden('bert')
    path = helpers.write_checkpoint(self.create_tempdir().full_path, hf_config, state)
    cases = pe.encoder_cases(path, batch=2, length=8, vocab_low=1)
    results = {name: pe.profile(compiled, args, calls=2) for name, compiled, args in cases}
    forward, step = results.values()
    self.assertIn('feed-forward matmuls', forward[0])
    self.assertTrue(any(p.startswith('backward: ') for p in step[0]))
    for seconds, wall in results.values():
      self.assertGreater(wall, 0)
      self.assertTrue(all(s > 0 for s in seconds.values()))
    self.assertLen(pe.format_table(results).splitlines(), 2 + len(set(forward[0]) | set(step[0])) + 2)


if __name__ == '__main__':
  absltest.main()
