"""Parameter-efficient methods: their specs, the adapter and LoRA modules, and the method registry.

A method is one `Method` record in `METHODS`: its name, the encoder hook it adds (a memory, adapters
or LoRA factors; none for head_only, bitfit and full) and which parameters it trains, as ordered
`(regex, label)` rules over '/'-joined parameter paths, first match wins (see `partition.py`).
"""

import dataclasses
import re
from typing import Any

import flax.linen as nn
import jax.numpy as jnp
from flax import traverse_util

Dtype = Any


@dataclasses.dataclass(frozen=True)
class MemorySpec:
  """SPARTAN memory: E parents of C = memory_size / E children each, after the chosen layers."""
  num_parents: int = 16
  memory_size: int = 48
  top_k: int = 8
  temperature: float = 1.6
  impl: str = 'dense'  # 'dense' or 'gather', see memory.memory_lookup
  layers: tuple[int, ...] | None = None  # None: every layer
  shared: bool = False  # one memory for all chosen layers
  layer_norm: bool = False  # post-LayerNorm over x + memory(x)
  train_layer_norms: bool = True  # the reference also trains the backbone's LayerNorms


@dataclasses.dataclass(frozen=True)
class AdapterSpec:
  """Bottleneck adapters: 'houlsby' (after attention and FFN) or 'pfeiffer' (after the FFN only)."""
  placement: str = 'houlsby'
  bottleneck: int = 64
  activation: str = 'relu'

  def __post_init__(self):
    if self.placement not in ('houlsby', 'pfeiffer'):
      raise ValueError(f'adapter placement={self.placement!r}: use "houlsby" or "pfeiffer".')
    if self.activation not in ('relu', 'gelu', 'tanh'):
      raise ValueError(f'adapter activation={self.activation!r}: use "relu", "gelu" or "tanh".')


@dataclasses.dataclass(frozen=True)
class LoRASpec:
  """Low-rank updates W + (alpha / rank) A B on the named attention projections."""
  rank: int = 8
  alpha: float = 16.0
  targets: tuple[str, ...] = ('query', 'value')

  def __post_init__(self):
    bad = set(self.targets) - {'query', 'key', 'value', 'output'}
    if bad or self.rank < 1:
      raise ValueError(f'LoRA rank={self.rank}, targets={self.targets}: rank must be >= 1 and '
                       'targets a subset of query, key, value, output.')


class Adapter(nn.Module):
  """h + up(act(down(h))); `up` starts at zero so a fresh adapter is the identity."""
  bottleneck: int
  activation: str = 'relu'
  dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, h):
    act = {'relu': nn.relu, 'gelu': lambda t: nn.gelu(t, approximate=False), 'tanh': jnp.tanh}[self.activation]
    z = nn.Dense(self.bottleneck, dtype=self.dtype, kernel_init=nn.initializers.normal(0.02), name='down')(h)
    return h + nn.Dense(h.shape[-1], dtype=self.dtype, kernel_init=nn.initializers.zeros, name='up')(act(z))


class LoRADense(nn.Module):
  """nn.Dense with the same `kernel`/`bias` params plus a low-rank update; `lora_b` starts at zero."""
  features: int
  rank: int
  alpha: float
  dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, x):
    kernel = self.param('kernel', nn.initializers.normal(0.02), (x.shape[-1], self.features))
    bias = self.param('bias', nn.initializers.zeros, (self.features,))
    a = self.param('lora_a', nn.initializers.variance_scaling(1 / 3, 'fan_in', 'uniform'), (x.shape[-1], self.rank))
    b = self.param('lora_b', nn.initializers.zeros, (self.rank, self.features))
    x = x.astype(self.dtype)
    y = x @ kernel.astype(self.dtype) + bias.astype(self.dtype)
    return y + (x @ a.astype(self.dtype)) @ b.astype(self.dtype) * (self.alpha / self.rank)


def memory_layer_indices(spec: MemorySpec | None, num_layers: int) -> tuple[int, ...]:
  if spec is None:
    return ()
  layers = tuple(range(num_layers)) if spec.layers is None else tuple(spec.layers)
  bad = [i for i in layers if not 0 <= i < num_layers]
  if bad:
    raise ValueError(f'memory layers {bad} are out of range for a {num_layers}-layer encoder.')
  return layers


# The parameters each encoder hook adds, as path regexes.
HOOK_PARAMS = {'memory': r'^encoder/memory(_\d+)?/', 'adapter': r'_adapter/', 'lora': r'/lora_[ab]$'}

_HEAD = (r'^head/', 'trainable')
_LAYER_NORMS = (r'layer_norm/(scale|bias)$', 'trainable')
_FROZEN = (r'.*', 'frozen')


@dataclasses.dataclass(frozen=True)
class Method:
  """A PEFT method: its encoder hook (a key of HOOK_PARAMS, or None) and the parameters it trains."""
  name: str
  rules: tuple[tuple[str, str], ...]  # (regex, label), first match wins.
  hook: str | None = None
  placement: str | None = None  # Adapters: AdapterSpec.placement.

  @property
  def adds_modules(self) -> bool:
    """False when the method trains only existing parameters (its count is the backbone's plus a head)."""
    return self.hook is not None


def _trains(hook: str) -> tuple[str, str]:
  return (HOOK_PARAMS[hook], 'trainable')


# Name -> Method, in the order tables list them. Adding a method is adding one record here.
METHODS = {m.name: m for m in (
    Method('spartan', (_HEAD, _trains('memory'), _LAYER_NORMS, _FROZEN), hook='memory'),
    Method('head_only', (_HEAD, _FROZEN)),
    Method('bitfit', (_HEAD, (r'/bias$', 'trainable'), _FROZEN)),
    Method('houlsby', (_HEAD, _trains('adapter'), _LAYER_NORMS, _FROZEN), hook='adapter', placement='houlsby'),
    Method('pfeiffer', (_HEAD, _trains('adapter'), _LAYER_NORMS, _FROZEN), hook='adapter', placement='pfeiffer'),
    Method('lora', (_HEAD, _trains('lora'), _FROZEN), hook='lora'),
    Method('full', ((r'.*', 'trainable'),)),
)}


def get_method(name: str) -> Method:
  if name not in METHODS:
    raise ValueError(f'Unknown method {name!r}; choose one of {tuple(METHODS)}.')
  return METHODS[name]


def trainable_rules(method: str, memory: MemorySpec | None = None) -> tuple[tuple[str, str], ...]:
  """Ordered (regex, label) rules: which parameters `method` trains."""
  m = get_method(method)
  if m.hook == 'memory' and not (memory or MemorySpec()).train_layer_norms:
    return tuple(rule for rule in m.rules if rule != _LAYER_NORMS)
  return m.rules


def is_backbone(path: str) -> bool:
  """Whether a '/'-joined parameter path is one a plain BERT/RoBERTa holds (no hook added it)."""
  return not any(re.search(pattern, path) for pattern in HOOK_PARAMS.values())


def merge_lora(params: dict, spec: LoRASpec) -> dict:
  """Folds each LoRA update into its kernel: params for the same model built without LoRA."""
  flat = traverse_util.flatten_dict(params, sep='/')
  merged = {}
  for path, value in flat.items():
    module, _, leaf = path.rpartition('/')
    if leaf in ('lora_a', 'lora_b'):
      continue
    if leaf == 'kernel' and f'{module}/lora_a' in flat:
      a, b = flat[f'{module}/lora_a'], flat[f'{module}/lora_b']
      value = value + (a @ b) * (spec.alpha / spec.rank)
    merged[path] = value
  return traverse_util.unflatten_dict(merged, sep='/')
