"""Predict and export from a workdir: config.json + delta.safetensors, as training leaves them."""

import json
import os
import tempfile

from absl.testing import absltest
import jax
import numpy as np
import onnxruntime as ort
import tokenizers

from spartan_jax import checkpoint
from spartan_jax import export
from spartan_jax import inference
from spartan_jax import partition
from spartan_jax import predict
from spartan_jax import train
from spartan_jax.data import tasks
from spartan_jax.models import model as model_lib
from spartan_jax.models import peft
import helpers

SENTENCES = ['a wonderful , moving film .', 'boring and far too long .', 'it is a film .']


def fake_run(workdir, task='sst2'):
  """The demo config's workdir (for `task`) with a random SPARTAN delta instead of a trained one."""
  config = helpers.load_config(f'demo.py:task={task}')
  train.check_workdir(workdir, config)
  _, params = model_lib.from_pretrained('minilm', 'spartan', tasks.get_task(task).num_labels)
  labels = partition.param_labels(params, peft.trainable_rules('spartan'))
  trainable = jax.tree.map(lambda p: p + 0.05 * np.random.default_rng(0).standard_normal(p.shape, np.float32),
                           partition.trainable_subtree(params, labels))
  checkpoint.save_delta(os.path.join(workdir, 'delta.safetensors'), trainable, {'task': task})
  return workdir


class ReadTest(absltest.TestCase):

  def test_formats(self):
    rte, sst2 = tasks.get_task('rte'), tasks.get_task('sst2')
    d = self.create_tempdir()
    lines = d.create_file('x.txt', 'premise one\thypothesis one\n').full_path
    self.assertEqual(predict.read_examples(rte, lines), ([0], [('premise one', 'hypothesis one')]))
    tsv = d.create_file('x.tsv', 'index\tsentence1\tsentence2\n7\ta\tb\n').full_path
    self.assertEqual(predict.read_examples(rte, tsv), (['7'], [('a', 'b')]))
    jsonl = d.create_file('x.jsonl', json.dumps({'sentence': 'fine'}) + '\n').full_path
    self.assertEqual(predict.read_examples(sst2, jsonl), ([0], [('fine', None)]))
    with self.assertRaisesRegex(ValueError, 'tab-separated'):
      predict.read_examples(rte, d.create_file('y.txt', 'no tab\n').full_path)
    with self.assertRaisesRegex(ValueError, r"name it one of \('sentence'"):
      predict.read_examples(sst2, d.create_file('y.tsv', 'text\nx\n').full_path)

  def test_glue_prediction_forms(self):
    logits = np.array([[0.1, 0.9], [2.0, -1.0]])
    self.assertEqual(predict.glue_prediction(tasks.get_task('rte'), logits), ['not_entailment', 'entailment'])
    self.assertEqual(predict.glue_prediction(tasks.get_task('sst2'), logits), ['1', '0'])
    self.assertEqual(predict.glue_prediction(tasks.get_task('stsb'), logits[:, :1]), ['0.100', '2.000'])

  def test_missing_workdir_files(self):
    with self.assertRaisesRegex(FileNotFoundError, 'finished training run'):
      inference.load_run(self.create_tempdir().full_path)


class RunTest(absltest.TestCase):

  @classmethod
  def setUpClass(cls):
    super().setUpClass()
    cls.trained = inference.load_run(fake_run(tempfile.mkdtemp(prefix='run')))

  def test_predictions_are_the_models(self):
    logits = inference.logits_of(self.trained, [(s, None) for s in SENTENCES], batch_size=2)
    enc = self.trained.tokenizer(SENTENCES, padding=True, return_tensors='np')
    expected = self.trained.model.apply({'params': self.trained.params}, enc['input_ids'], enc['attention_mask'],
                                    enc['token_type_ids'])['logits']
    np.testing.assert_allclose(logits, expected, atol=1e-5)
    out = os.path.join(self.create_tempdir(), 'p.tsv')
    predict.write_predictions(self.trained.task, [0, 1, 2], logits, out)
    with open(out) as f:
      rows = [line.rstrip('\n').split('\t') for line in f]
    self.assertEqual(rows[0], ['index', 'label', 'score'])
    self.assertEqual([r[1] for r in rows[1:]], [('negative', 'positive')[i] for i in logits.argmax(-1)])

  def test_glue_test_file(self):
    glue_dir = self.create_tempdir()
    glue_dir.create_file('SST-2/test.tsv', 'index\tsentence\n' + ''.join(f'{i}\t{s}\n' for i, s in
                                                                       enumerate(SENTENCES)))
    out = self.create_tempdir().full_path
    [path] = predict.write_glue_test(self.trained, out, glue_dir.full_path, batch_size=2)
    self.assertEqual(os.path.basename(path), 'SST-2.tsv')
    with open(path) as f:
      rows = [line.rstrip('\n').split('\t') for line in f]
    self.assertEqual(rows[0], ['index', 'prediction'])
    self.assertEqual([r[0] for r in rows[1:]], ['0', '1', '2'])
    self.assertTrue(all(r[1] in ('0', '1') for r in rows[1:]))

  def test_exported_model_predicts_the_same_without_jax(self):
    out = self.create_tempdir().full_path
    info = export.export_runs([self.trained.workdir], out, int8=False)
    self.assertEqual(info['tasks'][0]['label_names'], ['negative', 'positive'])
    tok = tokenizers.Tokenizer.from_file(os.path.join(out, 'tokenizer.json'))
    enc = tok.encode_batch(SENTENCES)
    feed = {name: np.array([getattr(e, attr) for e in enc], np.int32) for name, attr in
            (('input_ids', 'ids'), ('attention_mask', 'attention_mask'), ('token_type_ids', 'type_ids'))}
    got = ort.InferenceSession(os.path.join(out, 'model.onnx')).run(['logits'], feed)[0]
    expected = inference.logits_of(self.trained, [(s, None) for s in SENTENCES])
    np.testing.assert_allclose(got, expected, atol=1e-4)

  def test_multitask_export_equals_each_run(self):
    topics = inference.load_run(fake_run(self.create_tempdir().full_path, 'topics'))
    out = self.create_tempdir().full_path
    info = export.export_runs([self.trained.workdir, topics.workdir], out, int8=False)
    self.assertEqual(info['inputs'][-1], 'task_ids')
    self.assertEqual([t['num_labels'] for t in info['tasks']], [2, 5])
    enc = self.trained.tokenizer(SENTENCES, padding=True, return_tensors='np')
    feed = {k: enc[k].astype(np.int32) for k in export.INPUT_NAMES}
    task_ids = np.array([1, 0, 1], np.int32)
    got = ort.InferenceSession(os.path.join(out, 'model.onnx')).run(['logits'], feed | {'task_ids': task_ids})[0]
    texts = [(s, None) for s in SENTENCES]
    for t, run in enumerate((self.trained, topics)):
      rows = task_ids == t
      np.testing.assert_allclose(got[rows, :run.task.num_labels], inference.logits_of(run, texts)[rows],
                                 atol=1e-4)


if __name__ == '__main__':
  absltest.main()
