"""Tests for spartan_jax.data.tasks."""

from absl.testing import absltest
from absl.testing import parameterized

from spartan_jax.data import tasks


class TasksTest(parameterized.TestCase):

  def test_glue_tasks_present(self):
    self.assertSameElements(
        tasks.GLUE_TASKS,
        ['cola', 'sst2', 'mrpc', 'stsb', 'qqp', 'mnli', 'qnli', 'rte', 'wnli'])
    for name in tasks.GLUE_TASKS:
      self.assertEqual(tasks.get_task(name).tfds_name, f'glue/{name}')

  @parameterized.parameters(
      ('cola', 2), ('sst2', 2), ('mrpc', 2), ('stsb', 1), ('qqp', 2),
      ('mnli', 3), ('qnli', 2), ('rte', 2), ('wnli', 2), ('topics', 5))
  def test_num_labels(self, name, num_labels):
    task = tasks.get_task(name)
    self.assertEqual(task.num_labels, num_labels)
    self.assertEqual(task.is_regression, name == 'stsb')

  def test_label_orders(self):
    for name in ('rte', 'qnli'):
      self.assertEqual(tasks.get_task(name).label_names,
                       ('entailment', 'not_entailment'))
    self.assertEqual(tasks.get_task('mnli').label_names,
                     ('entailment', 'neutral', 'contradiction'))
    self.assertEqual(tasks.get_task('mnli').eval_splits,
                     ('validation_matched', 'validation_mismatched'))

  @parameterized.parameters(*tasks.GLUE_TASKS)
  def test_matches_tfds_builder_config(self, name):
    from tensorflow_datasets.text import glue  # pylint: disable=g-import-not-at-top
    config, = [c for c in glue.Glue.BUILDER_CONFIGS if c.name == name]
    task = tasks.get_task(name)
    self.assertEqual(task.label_names, tuple(config.label_classes or ()))
    self.assertEqual(tuple(f for f in task.text_fields if f),
                     tuple(config.text_features))
    self.assertEqual(task.tsv.dirname, config.data_dir)

  @parameterized.parameters(*tasks.TASKS)
  def test_tsv_layout_covers_labelled_splits(self, name):
    task = tasks.get_task(name)
    self.assertEqual(task.splits[0], 'train')
    self.assertSameElements(task.tsv.files, task.splits)
    self.assertIn(task.tsv.labels, ('index', 'name', 'float'))
    self.assertEqual(task.tsv.labels == 'float', task.is_regression)
    self.assertEqual(len(task.tsv.columns), 3)
    self.assertEqual(task.tsv.columns[1] is None, task.text_fields[1] is None)

  def test_unknown_task_lists_valid_names(self):
    with self.assertRaisesRegex(ValueError, r"'sst-2'.*cola, sst2.*wnli"):
      tasks.get_task('sst-2')


if __name__ == '__main__':
  absltest.main()
