"""Full fine-tuning steps against Hugging Face PyTorch: the same weights, batches and AdamW recipe, dropout off."""

from absl.testing import absltest
from absl.testing import parameterized
import jax
import numpy as np
from flax import traverse_util

from spartan_jax import optim
from spartan_jax import partition
from spartan_jax import train
from spartan_jax import train_state
from spartan_jax.models import model as model_lib
from spartan_jax.models import peft
from spartan_jax.models import pretrained
import helpers

_HF_CLASSES = {'bert': ('BertConfig', 'BertForSequenceClassification'),
               'roberta': ('RobertaConfig', 'RobertaForSequenceClassification')}
_LR, _WEIGHT_DECAY, _STEPS = 1e-2, 0.01, 3  # Steps large enough to tell the schedule and decay apart.
_CLIP = 0.05  # Below every step's gradient norm: under Adam only a changing clip factor shows.


def _torch_steps(name, hf_config, state, batches):
  """HF's model, torch.optim.AdamW, clip_grad_norm_ and a linear decay: (losses, final state dict)."""
  import torch  # pylint: disable=g-import-not-at-top  # Here, not at collection: xdist workers stay torch-free.
  import transformers  # pylint: disable=g-import-not-at-top
  config_class, model_class = (getattr(transformers, n) for n in _HF_CLASSES[name])
  model = model_class(config_class(**hf_config))
  model.load_state_dict({k: torch.from_numpy(v) for k, v in state.items()}, strict=False)
  model.train()  # Dropout is 0 in hf_config; train mode still checks nothing depends on eval mode.
  opt = torch.optim.AdamW(model.parameters(), lr=_LR, betas=(0.9, 0.999), eps=1e-8, weight_decay=_WEIGHT_DECAY)
  schedule = torch.optim.lr_scheduler.LambdaLR(opt, lambda t: 1 - t / _STEPS)
  losses = []
  for batch in batches:
    out = model(input_ids=torch.from_numpy(batch['input_ids']).long(),
                attention_mask=torch.from_numpy(batch['attention_mask']).long(),
                token_type_ids=torch.from_numpy(batch['token_type_ids']).long(),
                labels=torch.from_numpy(batch['label']).long())
    opt.zero_grad()
    out.loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), _CLIP)
    opt.step()
    schedule.step()
    losses.append(out.loss.item())
  return losses, {k: v.detach().numpy() for k, v in model.state_dict().items()}


def _our_steps(path, num_labels, batches):
  model, params = model_lib.from_pretrained(path, 'full', num_labels=num_labels)
  labels = partition.param_labels(params, peft.trainable_rules('full'))
  tx = optim.make_optimizer(labels, _LR, total_steps=_STEPS, weight_decay=_WEIGHT_DECAY, grad_clip_norm=_CLIP)
  state = train_state.create_train_state(params, tx)
  step = jax.jit(train.make_train_step(model, tx))
  losses = []
  for batch in batches:
    state, metrics = step(state, batch, jax.random.key(0))
    losses.append(float(metrics['loss']))
  return losses, traverse_util.flatten_dict(jax.device_get(state.params), sep='/')


class FullFineTuningMatchesPyTorchTest(parameterized.TestCase):

  @parameterized.parameters('bert', 'roberta')
  def test_three_steps_give_the_same_losses_and_weights(self, name):
    hf_config, golden, state = helpers.load_golden(name)
    hf_config = dict(hf_config, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    num_labels = golden['logits'].shape[-1]
    label = np.random.default_rng(0).integers(0, num_labels, len(golden['input_ids'])).astype(np.int32)
    batch = dict(input_ids=golden['input_ids'], attention_mask=golden['attention_mask'],
                 token_type_ids=golden['token_type_ids'], label=label,
                 mask=np.ones(len(label), np.float32))
    path = helpers.write_checkpoint(self.create_tempdir().full_path, hf_config, state)

    ours, our_params = _our_steps(path, num_labels, [batch] * _STEPS)
    theirs, their_state = _torch_steps(name, hf_config, state, [batch] * _STEPS)

    np.testing.assert_allclose(ours, theirs, rtol=1e-5)
    trained, initial = pretrained.convert_state_dict(their_state), pretrained.convert_state_dict(state)
    self.assertEqual(set(trained), set(our_params))
    for path_name, value in trained.items():
      np.testing.assert_allclose(our_params[path_name], value, atol=1e-5, rtol=0, err_msg=path_name)
    moved = {p: np.abs(trained[p] - initial[p]).max() for p in initial}
    # Far above the tolerance, except a key bias: softmax ignores a per-query constant, so only decay moves it.
    self.assertGreater(min(m for p, m in moved.items() if not p.endswith('/key/bias')), 1e-3)


if __name__ == '__main__':
  absltest.main()
