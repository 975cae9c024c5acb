"""Runs experiments/colab/spartan_fewshot_sst2.ipynb offline: tiny random BERT, real SST-2 TSVs, 4 steps."""

import base64
import os
import sys
import tempfile
import unittest

from absl.testing import absltest

import helpers
import shared_data

NOTEBOOK = os.path.join(shared_data.REPO_ROOT, 'experiments', 'colab', 'spartan_fewshot_sst2.ipynb')


class ColabTest(absltest.TestCase):

  def test_notebook_is_valid_and_committed_without_outputs(self):
    import nbformat  # pylint: disable=g-import-not-at-top
    nb = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(nb)
    code = [cell for cell in nb.cells if cell.cell_type == 'code']
    self.assertEqual([c.execution_count for c in code], [None] * len(code))
    self.assertEqual([c.outputs for c in code], [[]] * len(code))
    self.assertLen([c for c in code if 'parameters' in c.metadata.get('tags', [])], 1)

  def test_notebook_runs_offline(self):
    try:
      import nbclient  # pylint: disable=g-import-not-at-top
      import nbformat  # pylint: disable=g-import-not-at-top
      from ipykernel import kernelspec  # pylint: disable=g-import-not-at-top
      from jupyter_client import kernelspec as jupyter_kernelspec  # pylint: disable=g-import-not-at-top
      from jupyter_client import manager  # pylint: disable=g-import-not-at-top
    except ImportError as e:
      raise unittest.SkipTest(f'Notebook runner missing ({e}); pip install -e ".[dev]".') from None
    glue_dir = os.path.dirname(shared_data.require('glue', 'SST-2'))
    tmp = self.create_tempdir().full_path
    model_dir = helpers.tiny_checkpoint_with_minilm_tokenizer(os.path.join(tmp, 'tiny_bert'))

    nb = nbformat.read(NOTEBOOK, as_version=4)
    (params,) = [c for c in nb.cells if 'parameters' in c.metadata.get('tags', [])]
    params.source = '\n'.join([
        "TASK = 'sst2'", 'K = 16', 'SEED = 13', 'NUM_STEPS = 4', f'GLUE_DIR = {glue_dir!r}',
        f'MODEL = {model_dir!r}', "METHOD = 'spartan'", 'RUNLOCAL = True',
        f"WORKDIR = {os.path.join(tmp, 'workdir')!r}"])

    # A kernel spec for this interpreter only, so the notebook runs in the venv that runs the tests.
    kernelspec.write_kernel_spec(os.path.join(tmp, 'kernels', 'python3'))
    km = manager.AsyncKernelManager(
        kernel_name='python3',
        kernel_spec_manager=jupyter_kernelspec.KernelSpecManager(kernel_dirs=[os.path.join(tmp, 'kernels')]))
    self.assertEqual(km.kernel_spec.argv[0], sys.executable)
    env = {**os.environ, 'HF_HUB_OFFLINE': '1', 'TRANSFORMERS_OFFLINE': '1', 'GLUE_DIR': ''}
    client = nbclient.NotebookClient(nb, km=km, timeout=300, resources={'metadata': {'path': shared_data.REPO_ROOT}})
    # cleanup_kc: shut the kernel down afterwards, which the client does by default only for managers it made.
    client.execute(env=env, cleanup_kc=True)  # Raises CellExecutionError on any failing cell.

    outputs = [o for c in nb.cells if c.cell_type == 'code' for o in c.outputs]
    self.assertEqual([o for o in outputs if o.output_type == 'error'], [])
    text = ''.join(o.get('text', '') for o in outputs if o.output_type == 'stream')
    self.assertRegex(text, r'Test accuracy \(sst2 validation, best dev step \d+\): [01]\.\d{4}')
    images = [o.data['image/png'] for o in outputs if 'image/png' in o.get('data', {})]
    self.assertLen(images, 1)
    self.assertTrue(base64.b64decode(images[0]).startswith(b'\x89PNG'))
    self.assertTrue(os.path.exists(os.path.join(tmp, 'workdir', 'results.json')))


if __name__ == '__main__':
  absltest.main()
