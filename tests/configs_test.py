"""config_utils (load_config, parse_arg, apply_overrides) and the configs: every documented argument builds."""

from absl.testing import absltest
from absl.testing import parameterized

from spartan_jax import config_utils
import helpers


def glue_config(arg=''):
  return helpers.load_config(f'glue.py:{arg}')


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


class OverridesTest(parameterized.TestCase):

  def test_typed_values(self):
    config = config_utils.apply_overrides(glue_config('rte'), [
        '--config.train.num_steps=7', '--config.train.learning_rate=3e-4', '--config.data.buckets=(16, 32)',
        '--config.model.checkpoint=minilm', '--config.method.memory.shared=TRUE', '--config.task=sst2'])
    self.assertEqual((config.train.num_steps, config.train.learning_rate, config.data.buckets),
                     (7, 3e-4, (16, 32)))
    self.assertIsInstance(config.train.num_steps, int)
    self.assertEqual((config.model.checkpoint, config.method.memory.shared, config.task), ('minilm', True, 'sst2'))
    config_utils.apply_overrides(config, ['--config.method.memory.shared=0'])
    self.assertIs(config.method.memory.shared, False)

  @parameterized.parameters(('--config.method.memory.shared=yes', ValueError, 'method.memory.shared=.yes.'),
                            ('--config.train.num_steps=1.5', ValueError, 'train.num_steps=.1.5. must be a int'),
                            ('--config.train.lr=1', KeyError, "no field 'train.lr'"),
                            ('--config.trian.learning_rate=1', KeyError, "no field 'trian.learning_rate'"),
                            ('train.num_steps=3', ValueError, 'expected --config.FIELD=VALUE'))
  def test_errors_name_the_key(self, override, error, message):
    with self.assertRaisesRegex(error, message):
      config_utils.apply_overrides(glue_config('rte'), [override])

  def test_load_config_without_arg_uses_the_defaults(self):
    self.assertEqual(glue_config().to_dict(), helpers.load_config('glue.py').to_dict())
    with self.assertRaises(FileNotFoundError):
      config_utils.load_config('configs/nope.py:sst2')


class GlueConfigTest(parameterized.TestCase):

  @parameterized.parameters('sst2', 'rte,method=houlsby,k=16,seed=13', 'mrpc,n=100', 'stsb,method=lora,runlocal',
                            'mnli,method=full,model=minilm', 'cola,method=bitfit,k=16,seed=100')
  def test_arguments_build_a_locked_config(self, arg):
    config = glue_config(arg)
    self.assertEqual(config.task, arg.split(',')[0])
    with self.assertRaises(AttributeError):
      config.train.learnin_rate = 1.0  # A typo fails.

  def test_protocol_follows_k_and_n(self):
    self.assertEqual(glue_config('rte,k=16,seed=21').data.protocol, 'lmbff')
    self.assertEqual(glue_config('rte,k=16,seed=21').data.split_seed, 21)
    self.assertEqual(glue_config('rte,n=64').data.protocol, 'first_n')
    self.assertEqual(glue_config('rte').data.protocol, 'full')

  def test_reference_defaults(self):
    c = glue_config('sst2')
    self.assertEqual((c.train.learning_rate, c.train.batch_size, c.data.max_length, c.train.num_epochs),
                     (1e-3, 16, 128, 3))
    m = c.method.memory
    self.assertEqual((m.num_parents, m.memory_size, m.top_k, m.temperature), (16, 48, 8, 1.6))
    self.assertEqual(c.model.checkpoint, 'roberta-base')

  def test_demo_config_is_offline(self):
    c = helpers.load_config('demo.py')
    self.assertEqual(c.model.checkpoint, 'minilm')
    self.assertTrue(c.data.glue_dir.endswith('data/demo'))
    self.assertEqual(helpers.load_config('demo.py:method=houlsby').method.name, 'houlsby')


if __name__ == '__main__':
  absltest.main()
