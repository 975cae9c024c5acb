"""Test helpers for the shared data folder and a TFDS GLUE mock built on it.

The folder is `<repo root>/../shared/data`, or `$SPARTAN_SHARED_DATA`. Tests that need it skip when it is
absent, unless `$SPARTAN_REQUIRE_SHARED_DATA=1` (as in CI), which makes them fail instead.
"""

import contextlib
import os
from unittest import mock
import random
import unittest

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def shared_data_dir() -> str:
  return os.environ.get('SPARTAN_SHARED_DATA') or os.path.join(
      REPO_ROOT, '..', 'shared', 'data')


def require(*parts: str) -> str:
  """Path under the shared data folder; skips the calling test if absent."""
  path = os.path.join(shared_data_dir(), *parts)
  if not os.path.exists(path):
    message = (f'Shared data not found at {os.path.normpath(path)}; set SPARTAN_SHARED_DATA to the '
               'shared/data folder.')
    if os.environ.get('SPARTAN_REQUIRE_SHARED_DATA') == '1':
      raise FileNotFoundError(message + ' (SPARTAN_REQUIRE_SHARED_DATA=1: required here.)')
    raise unittest.SkipTest(message)
  return path


@contextlib.contextmanager
def mock_tfds_glue(glue_dir: str):
  """Makes `tfds.data_source('glue/<task>')` serve the files in `glue_dir`.

  Records come from TFDS's own GLUE generator run on those files, serialised
  and deserialised as an array_record data source returns them, and shuffled
  as TFDS stores them. Needs no TensorFlow.
  """
  import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top
  from spartan_jax.data import tasks  # pylint: disable=g-import-not-at-top
  from tensorflow_datasets.text import glue  # pylint: disable=g-import-not-at-top,unused-import

  def as_data_source(builder, split, **unused_kwargs):
    task = tasks.get_task(builder.builder_config.name)
    mrpc = os.path.join(glue_dir, 'MRPC')
    examples = builder._generate_examples(  # pylint: disable=protected-access
        data_file=os.path.join(glue_dir, task.tsv.dirname,
                               task.tsv.files[split]),
        split='train' if split == 'train' else 'dev',
        mrpc_files={'dev_ids': os.path.join(mrpc, 'dev_ids.tsv'),
                    'train': os.path.join(mrpc, 'msr_paraphrase_train.txt')})
    features = builder.info.features
    records = [features.deserialize_example_np(features.serialize_example(ex))
               for _, ex in examples]
    random.Random(0).shuffle(records)
    return records

  # Mocked datasets count as prepared: nothing to download.
  with tfds.testing.mock_data(as_data_source_fn=as_data_source), \
      mock.patch.object(tfds.core.DatasetBuilder, 'is_prepared', return_value=True):
    yield
