"""Tests for spartan_jax.data.sources on the shared GLUE files."""

import collections
import os
import socket
import unittest
from unittest import mock

from absl.testing import absltest
from absl.testing import parameterized
import numpy as np
import shared_data

from spartan_jax.data import sources


def _glue():
  return shared_data.require('glue')


# Row and label counts from shared/data/README.md.
_COUNTS = [
    ('cola', 'train', 8551, None),
    ('cola', 'validation', 1043, {0: 322, 1: 721}),
    ('sst2', 'train', 67349, None),
    ('sst2', 'validation', 872, {0: 428, 1: 444}),
    ('mrpc', 'train', 3668, {0: 1194, 1: 2474}),
    ('mrpc', 'validation', 408, {0: 129, 1: 279}),
    ('stsb', 'train', 5749, None),
    ('stsb', 'validation', 1500, None),
    ('qnli', 'validation', 5463, {0: 2702, 1: 2761}),
    ('rte', 'train', 2490, None),
    ('rte', 'validation', 277, {0: 146, 1: 131}),
    ('wnli', 'train', 635, None),
    ('wnli', 'validation', 71, {0: 40, 1: 31}),
    ('mnli', 'validation_matched', 9815, {0: 3479, 1: 3123, 2: 3213}),
]


class ReadTsvTest(parameterized.TestCase):

  @parameterized.parameters(*_COUNTS)
  def test_counts(self, task, split, rows, label_counts):
    examples = sources.load_examples(task, split, 'tsv', glue_dir=_glue())
    self.assertLen(examples, rows)
    self.assertEqual([e['idx'] for e in examples], list(range(rows)))
    if label_counts:
      self.assertEqual(collections.Counter(e['label'] for e in examples),
                       label_counts)

  def test_topics(self):
    topics = shared_data.require('topics')
    train = sources.read_tsv('topics', 'train', topics)
    test = sources.read_tsv('topics', 'test', topics)
    self.assertEqual(collections.Counter(e['label'] for e in train),
                     {0: 408, 1: 309, 2: 334, 3: 409, 4: 321})
    self.assertLen(test, 444)
    self.assertIsNone(test[0]['text_b'])

  def test_first_rows(self):
    glue = _glue()
    cola = sources.read_tsv('cola', 'train', glue)[0]
    self.assertEqual(cola, {
        'idx': 0, 'label': 1, 'text_b': None,
        'text_a': "Our friends won't buy this analysis, let alone the next "
                  'one we propose.'})
    mrpc = sources.read_tsv('mrpc', 'train', glue)[0]  # The header has a BOM.
    self.assertEqual(mrpc['label'], 1)
    self.assertTrue(mrpc['text_a'].startswith('Amrozi accused his brother'))
    mnli = sources.read_tsv('mnli', 'validation_matched', glue)[0]
    self.assertEqual(
        (mnli['text_a'], mnli['text_b'], mnli['label']),
        ('The new rights are nice enough',
         'Everyone really likes the newest benefits ', 1))
    stsb = sources.read_tsv('stsb', 'train', glue)[1]
    self.assertEqual(stsb['label'], float(np.float32(3.8)))

  def test_glue_dir_env_fallback(self):
    with mock.patch.dict(os.environ, {'GLUE_DIR': _glue()}):
      self.assertLen(sources.read_tsv('rte', 'validation'), 277)
    with mock.patch.dict(os.environ, clear=True):
      with self.assertRaisesRegex(ValueError, 'glue_dir.*GLUE_DIR'):
        sources.read_tsv('rte', 'validation')

  def test_resolve_glue_dir(self):
    with mock.patch.dict(os.environ, {'GLUE_DIR': '/env/glue'}):
      self.assertEqual(sources.resolve_glue_dir('/config/glue'), '/config/glue')
      self.assertEqual(sources.resolve_glue_dir(''), '/env/glue')
    with mock.patch.dict(os.environ, {'GLUE_DIR': ''}):
      self.assertIsNone(sources.resolve_glue_dir(''))


class ErrorsTest(parameterized.TestCase):

  def _write(self, task_dir, name, text):
    path = os.path.join(self.create_tempdir().full_path, task_dir)
    os.makedirs(path)
    with open(os.path.join(path, name), 'w') as f:
      f.write(text)
    return os.path.dirname(path)

  def test_missing_file_names_path_and_flag(self):
    root = self.create_tempdir().full_path
    with self.assertRaisesRegex(
        FileNotFoundError, f'{root}/RTE/train.tsv.*--config.data.glue_dir'):
      sources.read_tsv('rte', 'train', root)

  @parameterized.named_parameters(
      ('short_row', 'RTE', 'index\tsentence1\tsentence2\tlabel\n'
       '0\ta\tb\tentailment\n1\ta\tentailment\n', r'dev.tsv:3: malformed'),
      ('blank_line', 'RTE', 'index\tsentence1\tsentence2\tlabel\n\n',
       r'dev.tsv:2: malformed'),
      ('bad_name', 'RTE', 'index\tsentence1\tsentence2\tlabel\n'
       '0\ta\tb\tmaybe\n', r"dev.tsv:2: label 'maybe' is not in rte"),
      ('empty', 'RTE', 'index\tsentence1\tsentence2\tlabel\n', 'no examples'),
      ('no_header', 'RTE', '', r'lacks columns'),
      ('bad_id', 'CoLA', 'src\t1\t\tok\nsrc\t2\t\tno\n',
       r"dev.tsv:2: label '2' is not in cola's label set \(0..1\)"),
      ('bad_score', 'STS-B', 'sentence1\tsentence2\tscore\na\tb\thigh\n',
       r"label 'high' is not in stsb"))
  def test_tsv_errors(self, task_dir, text, regex):
    root = self._write(task_dir, 'dev.tsv', text)
    task = {'RTE': 'rte', 'CoLA': 'cola', 'STS-B': 'stsb'}[task_dir]
    with self.assertRaisesRegex(ValueError, regex):
      sources.read_tsv(task, 'validation', root)

  def test_argument_errors(self):
    with self.assertRaisesRegex(ValueError, 'Unknown task'):
      sources.load_examples('snli', 'train', 'tsv', glue_dir='/x')
    with self.assertRaisesRegex(ValueError, "labelled splits.*'test'"):
      sources.load_examples('rte', 'test', 'tsv', glue_dir='/x')
    with self.assertRaisesRegex(ValueError, 'Unknown source'):
      sources.load_examples('rte', 'train', 'csv')
    with self.assertRaisesRegex(ValueError, 'no TFDS copy'):
      sources.load_examples('topics', 'train', 'tfds')


class TfdsTest(parameterized.TestCase):

  @parameterized.parameters(
      ('cola', 'train'), ('cola', 'validation'), ('sst2', 'validation'),
      ('mrpc', 'train'), ('mrpc', 'validation'), ('stsb', 'train'),
      ('stsb', 'validation'), ('qnli', 'validation'), ('rte', 'train'),
      ('wnli', 'train'), ('mnli', 'validation_matched'))
  def test_tfds_equals_tsv(self, task, split):
    glue = _glue()
    with shared_data.mock_tfds_glue(glue):
      from_tfds = sources.load_examples(task, split)
    self.assertEqual(from_tfds, sources.load_examples(task, split, 'tsv',
                                                      glue_dir=glue))


class SharedDataTest(absltest.TestCase):

  def test_missing_shared_data_skips_here_and_fails_where_required(self):
    with mock.patch.dict(os.environ, {'SPARTAN_REQUIRE_SHARED_DATA': ''}):
      with self.assertRaisesRegex(unittest.SkipTest, 'no_such_folder.*SPARTAN_SHARED_DATA'):
        shared_data.require('no_such_folder')
    with mock.patch.dict(os.environ, {'SPARTAN_REQUIRE_SHARED_DATA': '1'}):
      with self.assertRaisesRegex(FileNotFoundError, 'no_such_folder.*required here'):
        shared_data.require('no_such_folder')


class OfflineTfdsTest(absltest.TestCase):

  def test_unreachable_download_fails_fast_and_names_the_fixes(self):
    calls = []

    def unreachable(address, timeout):
      calls.append((address, timeout))
      raise OSError('Network is unreachable')
    with mock.patch.object(socket, 'create_connection', unreachable), \
        self.assertRaisesRegex(ConnectionError, r'glue/sst2 is not prepared.*glue_dir.*GLUE_DIR.*tfds_data_dir'):
      sources.read_tfds('sst2', 'train', data_dir=self.create_tempdir().full_path)
    [(address, timeout)] = calls
    self.assertEqual(address[1], 443)
    self.assertLessEqual(timeout, 5)

  def test_download_failure_points_to_the_tsv_source(self):
    import requests  # pylint: disable=import-outside-toplevel
    import tensorflow_datasets as tfds  # pylint: disable=import-outside-toplevel
    with mock.patch.object(tfds, 'data_source', side_effect=requests.exceptions.ConnectionError('no network')), \
        mock.patch.object(sources, 'check_downloadable'):
      with self.assertRaisesRegex(RuntimeError, r'glue/rte .*ConnectionError.*glue_dir'):
        sources.read_tfds('rte', 'train')


if __name__ == '__main__':
  absltest.main()
