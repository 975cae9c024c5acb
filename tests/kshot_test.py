"""Tests for spartan_jax.data.kshot on the shared GLUE files."""

import collections
import dataclasses
import hashlib
import os
import random
import tempfile

from absl.testing import absltest
from absl.testing import parameterized
import shared_data

from spartan_jax.data import kshot
from spartan_jax.data import sources
from spartan_jax.data import tasks

_GLUE_DIRS = {'cola': 'CoLA', 'mrpc': 'MRPC', 'rte': 'RTE', 'stsb': 'STS-B'}


def _examples(task, source='tsv'):
  glue = shared_data.require('glue')
  return (sources.load_examples(task, 'train', source, glue_dir=glue),
          {s: sources.load_examples(task, s, source, glue_dir=glue)
           for s in tasks.get_task(task).eval_splits})


def _splits(task, protocol='lmbff', k=16, seed=13):
  train, evals = _examples(task)
  return kshot.make_splits(task, train, evals, protocol, k, seed)


def _ids(examples):
  return [e['idx'] for e in examples]


class LmbffFilesTest(absltest.TestCase):
  """Writes LM-BFF's files once for CoLA, MRPC, RTE and STS-B, all seeds."""

  @classmethod
  def setUpClass(cls):
    super().setUpClass()
    cls.glue = shared_data.require('glue')
    cls.checksums = shared_data.require('lmbff', 'k-shot-checksum.md5')
    cls.out = cls.enterClassContext(tempfile.TemporaryDirectory())
    kshot.main(['--glue_dir', cls.glue, '--output_dir', cls.out,
                '--tasks', *_GLUE_DIRS])

  def test_md5_matches_lmbff(self):
    with open(self.checksums) as f:
      want = dict(reversed(line.split()) for line in f)
    files = [p for p in want if p.split('/')[0] in _GLUE_DIRS.values()]
    self.assertLen(files, 4 * 5 * 3)  # SST-2 is another release: not checked.
    for path in files:
      with open(os.path.join(self.out, path), 'rb') as f:
        self.assertEqual(hashlib.md5(f.read()).hexdigest(), want[path], path)

  def test_make_splits_gives_the_files_rows(self):
    for task, dirname in _GLUE_DIRS.items():
      train, evals = _examples(task)
      for seed in (13, 100):
        got = kshot.make_splits(task, train, evals, 'lmbff', 16, seed)
        # Read the written folder with the task's own TSV layout.
        written = dataclasses.replace(tasks.get_task(task), tsv=dataclasses.replace(
            tasks.get_task(task).tsv, dirname=f'{dirname}/16-{seed}',
            files={'train': 'train.tsv', 'validation': 'dev.tsv'}))
        for split, name in (('train', 'train'), ('dev', 'validation')):
          strip = lambda ex: [(e['text_a'], e['text_b'], e['label']) for e in ex]
          self.assertEqual(strip(got[split]),
                           strip(sources.read_tsv(written, name, self.out)),
                           (task, seed, split))

  def test_tfds_gives_the_same_splits(self):
    with shared_data.mock_tfds_glue(self.glue):
      train, evals = _examples('rte', 'tfds')
    self.assertEqual(kshot.make_splits('rte', train, evals, 'lmbff', 16, 42),
                     _splits('rte', seed=42))


class MakeSplitsTest(parameterized.TestCase):

  @parameterized.parameters('sst2', 'rte', 'stsb')
  def test_lmbff_balanced_disjoint_deterministic(self, task):
    splits = _splits(task, k=8, seed=21)
    key = (lambda e: e['label'] >= 2.5) if task == 'stsb' else (
        lambda e: e['label'])
    self.assertEqual(set(collections.Counter(map(key, splits['train'])).values()),
                     {8})
    self.assertEqual(set(collections.Counter(map(key, splits['dev'])).values()),
                     {8})
    self.assertEmpty(set(_ids(splits['train'])) & set(_ids(splits['dev'])))
    self.assertEqual(splits, _splits(task, k=8, seed=21))
    self.assertNotEqual(_ids(splits['train']),
                        _ids(_splits(task, k=8, seed=87)['train']))

  def test_input_order_does_not_matter(self):
    train, evals = _examples('mrpc')
    shuffled = random.Random(0).sample(train, len(train))
    self.assertEqual(kshot.make_splits('mrpc', shuffled, evals, 'lmbff', 4, 13),
                     kshot.make_splits('mrpc', train, evals, 'lmbff', 4, 13))

  def test_short_class_gives_short_dev(self):
    train, evals = _examples('wnli')
    splits = kshot.make_splits('wnli', train, evals, 'lmbff', 200, 13)
    self.assertLen(splits['train'], 400)
    self.assertLen(splits['dev'], 635 - 400)

  def test_first_n(self):
    splits = _splits('rte', 'first_n', k=32, seed=None)
    self.assertEqual(_ids(splits['train']), list(range(32)))
    self.assertEmpty(splits['dev'])
    self.assertLen(splits['test']['validation'], 277)

  @parameterized.parameters(('rte', 249), ('sst2', 1000))
  def test_full(self, task, n_dev):
    train, evals = _examples(task)
    splits = kshot.make_splits(task, train, evals, 'full', seed=0)
    self.assertLen(splits['dev'], n_dev)
    self.assertEqual(sorted(_ids(splits['train']) + _ids(splits['dev'])),
                     list(range(len(train))))
    self.assertEqual(splits['test'], evals)
    self.assertEqual(splits['dev'],
                     kshot.make_splits(task, train, evals, 'full', seed=0)['dev'])
    self.assertNotEqual(
        splits['dev'], kshot.make_splits(task, train, evals, 'full', seed=1)['dev'])

  @parameterized.named_parameters(
      ('k_too_large', 'lmbff', 1242, 13,
       r"rte: k=1242 but class 'not_entailment' has only 1241"),
      ('first_n_too_large', 'first_n', 2491, None, 'only 2490'),
      ('unknown_protocol', 'random', 16, 13, "Unknown protocol 'random'"),
      ('missing_k', 'lmbff', None, 13, 'needs a positive k'),
      ('missing_seed', 'lmbff', 16, None, 'needs a seed'),
      ('full_missing_seed', 'full', None, None, 'needs a seed'),
      ('full_with_k', 'full', 16, 13, 'want k=None'))
  def test_errors(self, protocol, k, seed, regex):
    train, evals = _examples('rte')
    with self.assertRaisesRegex(ValueError, regex):
      kshot.make_splits('rte', train, evals, protocol, k, seed)

  def test_lmbff_needs_whole_train_split(self):
    train, evals = _examples('rte')
    with self.assertRaisesRegex(ValueError, 'whole train split'):
      kshot.make_splits('rte', train[1:], evals, 'lmbff', 16, 13)

  def test_write_rejects_non_glue(self):
    with self.assertRaisesRegex(ValueError, 'only for GLUE'):
      kshot.write_lmbff('topics', '/x', '/y', 16, 13)


if __name__ == '__main__':
  absltest.main()
