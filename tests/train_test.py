"""End to end: a tiny random BERT on real GLUE TSVs; resume; data parallelism; input errors."""

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
from unittest import mock

from absl.testing import absltest
from absl.testing import parameterized
import chex
import jax
import jax.numpy as jnp
import numpy as np
import orbax.checkpoint as ocp
from flax import traverse_util

from spartan_jax import checkpoint
from spartan_jax import config_validation
from spartan_jax import optim
from spartan_jax import partition
from spartan_jax import provenance
from spartan_jax import sharding
from spartan_jax import train
from spartan_jax import train_state
from spartan_jax.data import pipeline
from spartan_jax.data import tasks
from spartan_jax.models import peft
import helpers
import shared_data



class TrainTest(parameterized.TestCase):

  @classmethod
  def setUpClass(cls):
    super().setUpClass()
    cls.glue_dir = shared_data.require('glue')
    cls.checkpoint_dir = helpers.tiny_checkpoint_with_minilm_tokenizer(
        tempfile.mkdtemp(prefix='tiny_bert'))

  def config(self, arg='rte,k=16,seed=13,runlocal', **train_overrides):
    config = helpers.load_config(f'glue.py:{arg}')
    config.model.checkpoint = self.checkpoint_dir
    config.data.glue_dir = self.glue_dir
    config.train.update(train_overrides)
    return config

  def test_end_to_end_and_resume_after_a_kill(self):
    config = self.config(num_steps=6)
    straight, resumed = self.create_tempdir().full_path, self.create_tempdir().full_path
    results = train.train_and_evaluate(config, straight)
    with open(os.path.join(straight, 'results.json')) as f:
      self.assertEqual(json.load(f)['test'], results['test'])
    self.assertFalse(os.path.exists(os.path.join(straight, 'TRAINING')))  # The workdir lock is released.
    self.assertEqual(results['total_steps'], 6)
    self.assertEqual(results['commit'], provenance.git_commit())  # This checkout's; None outside one.
    records = [json.loads(line) for line in open(os.path.join(straight, 'metrics.jsonl'))]
    dev = {r['step']: r['dev/score'] for r in records if 'dev/score' in r}
    self.assertEqual(sorted(dev), [2, 4, 6])
    self.assertEqual(results['best_step'], max(dev, key=lambda step: (dev[step], step)))  # Ties: the later step.
    self.assertEqual(results['best_dev_score'], dev[results['best_step']])
    test = records[-1]
    self.assertEqual(test['test/validation/accuracy'], results['test']['validation']['accuracy'])
    trainable, meta = checkpoint.load_delta(os.path.join(straight, 'delta.safetensors'))
    self.assertEqual(meta['method']['name'], 'spartan')
    n = sum(v.size for v in jax.tree.leaves(trainable))
    self.assertEqual(n, results['params']['trainable'])
    self.assertBetween(results['delta_bytes'], 4 * n, 4 * n + 64_000)

    save, saves = checkpoint.save, []

    def save_then_die(*args, **kwargs):
      save(*args, **kwargs)
      saves.append(1)
      if len(saves) == 2:
        raise KeyboardInterrupt
    with mock.patch.object(checkpoint, 'save', save_then_die), self.assertRaises(KeyboardInterrupt):
      train.train_and_evaluate(config, resumed)
    self.assertFalse(os.path.exists(os.path.join(resumed, 'results.json')))
    self.assertEqual(train.train_and_evaluate(config, resumed)['test'], results['test'])
    self.assertEqual(*[[(r['step'], sorted(r)) for r in map(json.loads, open(os.path.join(w, 'metrics.jsonl')))]
                       for w in (straight, resumed)])
    final = [self._latest_trainable(w) for w in (straight, resumed)]
    self.assertEqual(final[0].keys(), final[1].keys())
    for path in final[0]:
      np.testing.assert_array_equal(final[0][path], final[1][path], err_msg=path)

  def _latest_trainable(self, workdir):
    manager = checkpoint.create_manager(os.path.join(workdir, 'checkpoints'), keep=1)
    self.assertEqual(manager.latest_step(), 6)
    restored = manager.restore(6, args=ocp.args.Composite(state=ocp.args.StandardRestore(),
                                                          meta=ocp.args.JsonRestore()))
    return traverse_util.flatten_dict(restored['state']['trainable'], sep='/')

  def test_diverging_run_stops_at_the_step_and_keeps_no_results(self):
    config = self.config('stsb,k=16,seed=13,runlocal', learning_rate=1e9, grad_clip_norm=0.0, num_steps=10)
    workdir = self.create_tempdir().full_path
    with self.assertRaisesRegex(train.DivergenceError, r'Diverged at step (\d+) of 10 with learning rate '
                                r'1000000000\.0: .*lower --config\.train\.learning_rate') as error:
      train.train_and_evaluate(config, workdir)
    step = int(str(error.exception).split()[3])
    for name in ('results.json', 'delta.safetensors'):
      self.assertFalse(os.path.exists(os.path.join(workdir, name)), name)
    manager = checkpoint.create_manager(os.path.join(workdir, 'checkpoints'), keep=1)
    if manager.latest_step() is not None:  # The checkpoints kept are finite ones from before the step.
      self.assertLess(manager.latest_step(), step)
      restored = manager.restore(manager.latest_step(), args=ocp.args.Composite(
          state=ocp.args.StandardRestore(), meta=ocp.args.JsonRestore()))
      self.assertTrue(all(np.isfinite(x).all() for x in jax.tree.leaves(restored['state']['trainable'])))

  @parameterized.named_parameters(('between_saves', 3), ('at_a_save', 4))
  def test_a_non_finite_loss_stops_at_its_step_before_anything_is_saved(self, bad_step):
    # log_every > num_steps: the loop checks each step one step late, except at saves.
    config = self.config(num_steps=10, log_every=100)  # Saves at steps 2, 4, ...
    make_train_step = train.make_train_step

    def poisoned(*args, **kwargs):
      real_step = make_train_step(*args, **kwargs)

      def train_step(state, batch, rng):
        state, metrics = real_step(state, batch, rng)
        return state, metrics | {'loss': jnp.where(state.step == bad_step, jnp.nan, metrics['loss'])}
      return train_step

    workdir = self.create_tempdir().full_path
    with mock.patch.object(train, 'make_train_step', poisoned), self.assertRaisesRegex(
        train.DivergenceError, f'Diverged at step {bad_step} of 10 .*: loss nan'):
      train.train_and_evaluate(config, workdir)
    manager = checkpoint.create_manager(os.path.join(workdir, 'checkpoints'), keep=1)
    self.assertEqual(manager.latest_step(), 2)
    self.assertFalse(os.path.exists(os.path.join(workdir, 'results.json')))

  def test_kill_during_a_checkpoint_save_resumes_from_the_previous_one(self):
    config = self.config(num_steps=6)  # Saves at steps 2, 4 and 6.
    straight, killed = self.create_tempdir().full_path, self.create_tempdir().full_path
    # The child is SIGKILLed after orbax wrote step 4 into its temporary folder, before the rename.
    script = _KILLED_DURING_SAVE.format(tests=os.path.dirname(__file__), checkpoint=self.checkpoint_dir,
                                        glue=self.glue_dir, workdir=killed)
    child = subprocess.run([sys.executable, '-c', script], capture_output=True, text=True, timeout=600,
                           cwd=os.path.join(os.path.dirname(__file__), '..'), check=False)
    self.assertEqual(child.returncode, -signal.SIGKILL, child.stderr[-3000:])
    manager = checkpoint.create_manager(os.path.join(killed, 'checkpoints'), keep=1)
    self.assertEqual(manager.latest_step(), 2)
    self.assertTrue(any('tmp' in name for name in os.listdir(os.path.join(killed, 'checkpoints'))))
    self.assertEqual(train.train_and_evaluate(config, killed)['test'],
                     train.train_and_evaluate(config, straight)['test'])
    final = [self._latest_trainable(w) for w in (straight, killed)]
    for path in final[0]:
      np.testing.assert_array_equal(final[0][path], final[1][path], err_msg=path)

  def test_a_workdir_in_use_is_refused_before_anything_loads(self):
    workdir = self.create_tempdir().full_path
    with open(os.path.join(workdir, 'TRAINING'), 'w') as f:
      f.write(f'{socket.gethostname()} {os.getpid()}\n')  # A live process on this host.
    with mock.patch.object(train, 'load_data', side_effect=AssertionError('loaded data')), \
         self.assertRaisesRegex(train.WorkdirInUseError, rf'Workdir {workdir} is in use by process '
                                rf'{socket.gethostname()} {os.getpid()} .*wait for that run to end or stop it'):
      train.train_and_evaluate(self.config(), workdir)
    self.assertTrue(os.path.exists(os.path.join(workdir, 'TRAINING')))  # Not the refused run's to remove.

  def test_missing_data_fails_before_any_checkpoint_download(self):
    with mock.patch.object(train.config_validation, 'validate'), \
         mock.patch.object(train, 'load_data', side_effect=ConnectionError('no data')), \
         mock.patch.object(train.pretrained, 'resolve_checkpoint', side_effect=AssertionError('downloaded')), \
         self.assertRaisesRegex(ConnectionError, 'no data'):
      train.train_and_evaluate(self.config(), self.create_tempdir().full_path)

  def test_a_lock_deleted_mid_run_does_not_hide_the_run_error(self):
    workdir = self.create_tempdir().full_path

    def delete_lock_then_fail(*unused_args, **unused_kwargs):
      os.remove(os.path.join(workdir, 'TRAINING'))
      raise ValueError('the run error')

    with mock.patch.object(train, 'load_data', side_effect=delete_lock_then_fail), \
         self.assertRaisesRegex(ValueError, 'the run error'):
      train.train_and_evaluate(self.config(), workdir)

  def test_workdir_with_another_config_is_refused(self):
    workdir = self.create_tempdir().full_path
    train.check_workdir(workdir, self.config())
    with self.assertRaisesRegex(ValueError, r'different config .*train\.learning_rate'):
      train.check_workdir(workdir, self.config(learning_rate=0.5))

  @parameterized.named_parameters(
      ('unknown_task', 'glue,runlocal', {}, "task='glue': is unknown"),
      ('unknown_method', 'rte,method=prompt,runlocal', {}, "method.name='prompt': is unknown"),
      ('k_too_large', 'rte,k=5000,seed=13,runlocal', {}, '5000'),
      ('batch_not_divisible', 'rte,k=16,seed=13,runlocal', {'batch_size': 6}, 'divisible by the 4'),
  )
  def test_bad_input_fails_before_training(self, arg, overrides, message):
    with mock.patch.object(train.model_lib, 'from_pretrained', side_effect=AssertionError('too late')) \
        if 'divisible' not in message else mock.patch.object(train, 'make_train_step',
                                                             side_effect=AssertionError('too late')):
      with self.assertRaisesRegex(ValueError, message):
        train.train_and_evaluate(self.config(arg, **overrides), self.create_tempdir().full_path)

  def test_missing_glue_dir_names_the_path_and_the_fix(self):
    config = self.config()
    config.data.glue_dir = '/nonexistent/glue'
    with self.assertRaisesRegex(config_validation.ConfigError, r'/nonexistent/glue.*glue_dir'):
      train.train_and_evaluate(config, self.create_tempdir().full_path)


_KILLED_DURING_SAVE = '''
import os, signal, sys
sys.path[:0] = [{tests!r}, '.']
import jax
jax.config.update('jax_num_cpu_devices', 4)
from orbax.checkpoint._src.path import atomicity
import helpers
from spartan_jax import train

finalize = atomicity.AtomicRenameTemporaryPath.finalize

async def finalize_or_die(self, *args, **kwargs):
  if self.get_final().name == '4':
    os.kill(os.getpid(), signal.SIGKILL)
  return await finalize(self, *args, **kwargs)

atomicity.AtomicRenameTemporaryPath.finalize = finalize_or_die
config = helpers.load_config('glue.py:rte,k=16,seed=13,runlocal')
config.model.checkpoint, config.data.glue_dir, config.train.num_steps = {checkpoint!r}, {glue!r}, 6
train.train_and_evaluate(config, {workdir!r})
'''


class DataParallelTest(parameterized.TestCase):

  def test_two_devices_match_one(self):
    if jax.device_count() < 2:
      self.skipTest('needs 2 devices (tests/conftest.py asks for 4 CPU devices)')
    model, params = helpers.tiny_model('spartan')
    labels = partition.param_labels(params, peft.trainable_rules('spartan'))
    tx = optim.make_optimizer(labels, learning_rate=1e-2, total_steps=5)
    batches = []
    for seed in range(3):
      ids, mask, types = helpers.random_batch(seed, batch=4, length=8)
      batches.append(dict(input_ids=ids, attention_mask=mask, token_type_ids=types,
                          label=np.array([0, 1, 2, 0], np.int32), mask=np.array([1, 1, 1, 0], np.float32)))
    finals = []
    for n in (1, 2):
      mesh = sharding.create_mesh(jax.devices()[:n])
      state = jax.device_put(train_state.create_train_state(params, tx), sharding.replicated(mesh))
      step = jax.jit(train.make_train_step(model, tx, aux_loss_weight=0.1))
      for batch in batches:
        state, _ = step(state, sharding.shard_batch(batch, sharding.batch_sharding(mesh)), jax.random.key(0))
      finals.append(jax.device_get(state.params))
    for a, b in zip(jax.tree.leaves(finals[0]), jax.tree.leaves(finals[1])):
      np.testing.assert_allclose(a, b, atol=1e-5)
    changed = traverse_util.flatten_dict(finals[1], sep='/')['encoder/memory_0/child_values']
    self.assertGreater(np.abs(changed - params['encoder']['memory_0']['child_values']).max(), 1e-4)


class BucketsTest(absltest.TestCase):

  def test_steps_trace_once_per_bucket(self):
    # Random lengths 2..32: batches of many longest lengths, padded to 3 bucket lengths only.
    rng = np.random.default_rng(0)
    ids = [rng.integers(1, helpers.TINY_BERT.vocab_size, size=n).astype(np.int32) for n in rng.integers(2, 33, 40)]
    encoded = pipeline.Encoded(input_ids=ids, token_type_ids=[np.zeros_like(i) for i in ids],
                               label=rng.integers(0, 2, 40).astype(np.int32), idx=np.arange(40, dtype=np.int32),
                               pad_id=0, buckets=(8, 16, 32))
    model, params = helpers.tiny_model('spartan', num_labels=2)
    labels = partition.param_labels(params, peft.trainable_rules('spartan'))
    tx = optim.make_optimizer(labels, learning_rate=1e-3, total_steps=20)
    n = len(encoded.buckets)
    train_step = jax.jit(chex.assert_max_traces(train.make_train_step(model, tx), n=n))
    eval_step = jax.jit(chex.assert_max_traces(train.make_eval_step(model), n=n))
    state, lengths = train_state.create_train_state(params, tx), set()
    for epoch in range(2):
      for batch in pipeline.train_batches(encoded, 4, seed=0, epoch=epoch):
        lengths.add(batch['input_ids'].shape[1])
        state, _ = train_step(state, batch, jax.random.key(0))
    train.evaluate(eval_step, state.params, encoded, tasks.get_task('rte'), 4, shard=lambda b: b)
    lengths |= {batch['input_ids'].shape[1] for batch in pipeline.eval_batches(encoded, 4)}
    self.assertEqual(lengths, set(encoded.buckets))  # Every bucket was used: the bound was reached.


if __name__ == '__main__':
  absltest.main()
