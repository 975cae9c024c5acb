"""parse_arg and the configs: every documented argument builds a config."""

from absl.testing import absltest
from absl.testing import parameterized

from configs import demo
from configs import glue
from spartan_jax import config_utils


class ParseArgTest(parameterized.TestCase):

  def test_bare_first_value_typed_values_and_flags(self):
    arg = config_utils.parse_arg('rte,k=16,lr=3e-4,runlocal', task='sst2', k=0, lr=1e-3, runlocal=False)
    self.assertEqual(arg, {'task': 'rte', 'k': 16, 'lr': 3e-4, 'runlocal': True})
    self.assertIsInstance(arg['k'], int)

  def test_defaults_when_empty(self):
    self.assertEqual(config_utils.parse_arg(None, task='sst2', k=0), {'task': 'sst2', 'k': 0})

  @parameterized.parameters(('rte,kk=3', 'Unknown config argument'), ('rte,k=many', 'must be a int'),
                            ('rte,runlocal=maybe', 'true or false'))
  def test_errors(self, arg, message):
    with self.assertRaisesRegex(ValueError, message):
      config_utils.parse_arg(arg, task='sst2', k=0, runlocal=False)


class GlueConfigTest(parameterized.TestCase):

  @parameterized.parameters('sst2', 'rte,method=houlsby,k=16,seed=13', 'mrpc,n=100', 'stsb,method=lora,runlocal',
                            'mnli,method=full,model=minilm', 'cola,method=bitfit,k=16,seed=100')
  def test_arguments_build_a_locked_config(self, arg):
    config = glue.get_config(arg)
    self.assertEqual(config.task, arg.split(',')[0])
    with self.assertRaises(AttributeError):
      config.train.learnin_rate = 1.0  # A typo fails.

  def test_protocol_follows_k_and_n(self):
    self.assertEqual(glue.get_config('rte,k=16,seed=21').data.protocol, 'lmbff')
    self.assertEqual(glue.get_config('rte,k=16,seed=21').data.split_seed, 21)
    self.assertEqual(glue.get_config('rte,n=64').data.protocol, 'first_n')
    self.assertEqual(glue.get_config('rte').data.protocol, 'full')

  def test_reference_defaults(self):
    c = glue.get_config('sst2')
    self.assertEqual((c.train.learning_rate, c.train.batch_size, c.data.max_length, c.train.num_epochs),
                     (1e-3, 16, 128, 3))
    m = c.method.memory
    self.assertEqual((m.num_parents, m.memory_size, m.top_k, m.temperature), (16, 48, 8, 1.6))
    self.assertEqual(c.model.checkpoint, 'roberta-base')

  def test_demo_config_is_offline(self):
    c = demo.get_config()
    self.assertEqual(c.model.checkpoint, 'minilm')
    self.assertTrue(c.data.glue_dir.endswith('data/demo'))
    self.assertEqual(demo.get_config('method=houlsby').method.name, 'houlsby')


if __name__ == '__main__':
  absltest.main()
