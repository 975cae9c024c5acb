"""SPARTAN sparse hierarchical memory (Deshpande et al. 2022, arXiv:2211.16634).

For a token x, with E parent cells of C children each:

  p      = softmax over the top_k parents of (x . parent_keys[e]), 0 elsewhere
  q[e]   = softmax_c((x . child_keys[e, c]) / temperature)
  m(x)   = sum_e p[e] sum_c q[e, c] child_values[e, c]

`SpartanMemory` adds m(x) to x as a residual. Both `memory_lookup` impls give
the same values and gradients: "dense" scores every child with two matmuls,
"gather" scores only the children of the top_k parents.
"""

from collections.abc import Sequence
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

IMPLS = ("dense", "gather")


def children_per_parent(memory_size: int, num_parents: int) -> int:
  """Returns C = memory_size // num_parents, the children of each parent."""
  if num_parents < 1:
    raise ValueError(
        f"num_parents={num_parents} must be >= 1; set config field "
        "`num_parents` to a positive integer.")
  if memory_size % num_parents:
    raise ValueError(
        f"memory_size={memory_size} is not divisible by num_parents="
        f"{num_parents}; change config field `memory_size` to a multiple of "
        "`num_parents` (or change `num_parents`).")
  return memory_size // num_parents


def _check_lookup_args(x, parent_keys, child_keys, child_values, top_k,
                       temperature, impl):
  """Raises ValueError for bad arguments of `memory_lookup`."""
  if impl not in IMPLS:
    raise ValueError(f"impl={impl!r} is unknown; use one of {IMPLS}.")
  if parent_keys.ndim != 2:
    raise ValueError(
        f"parent_keys must have shape [E, H], got {parent_keys.shape}.")
  if child_keys.ndim != 3:
    raise ValueError(
        f"child_keys must have shape [E, C, H], got {child_keys.shape}.")
  if child_values.shape != child_keys.shape:
    raise ValueError(
        f"child_values.shape={child_values.shape} must equal "
        f"child_keys.shape={child_keys.shape}.")
  num_parents, hidden = parent_keys.shape
  if child_keys.shape[0] != num_parents:
    raise ValueError(
        f"child_keys has {child_keys.shape[0]} parents but parent_keys has "
        f"{num_parents}; give both the same leading dimension E.")
  if child_keys.shape[2] != hidden:
    raise ValueError(
        f"child_keys.shape[-1]={child_keys.shape[2]} must equal "
        f"parent_keys.shape[-1]={hidden}.")
  if x.ndim < 1 or x.shape[-1] != hidden:
    raise ValueError(
        f"x.shape={x.shape} must end in the keys' hidden size H={hidden} "
        "(parent_keys.shape[-1]).")
  if not isinstance(top_k, int) or not 1 <= top_k <= num_parents:
    raise ValueError(
        f"top_k={top_k!r} must be an int in [1, num_parents={num_parents}]; "
        "lower top_k or add parents.")
  if not temperature > 0:
    raise ValueError(
        f"temperature={temperature!r} must be > 0; pass a positive float.")


# Up to this many parents the dense impl's top_k mask is a rank count (N*E*E
# compares, fused into one loop); above it, lax.top_k and a scatter.
_RANK_MASK_MAX_PARENTS = 64


def _top_k_mask(logits, top_k):
  """[N, E] bool, True at each row's top_k logits (ties: lower index, as lax.top_k).

  On CPU, lax.top_k plus the scatter of its indices cost ~2 ms per layer at
  16x128 tokens, half the lookup; counting for each logit the logits ahead of
  it costs ~0.2 ms.
  """
  tokens, num_parents = logits.shape
  if num_parents > _RANK_MASK_MAX_PARENTS:
    _, top_idx = jax.lax.top_k(logits, top_k)
    rows = jnp.arange(tokens)[:, None]
    return jnp.zeros(logits.shape, bool).at[rows, top_idx].set(True)
  idx = jnp.arange(num_parents)
  mine, other = logits[:, :, None], logits[:, None, :]
  ahead = (other > mine) | ((other == mine) & (idx[None, :] < idx[:, None]))
  return jnp.sum(ahead, axis=-1, dtype=jnp.int32) < top_k


def _masked_softmax(logits, mask):
  """Softmax over the True entries of each row, 0 elsewhere (rows need a True)."""
  shift = jax.lax.stop_gradient(logits.max(axis=-1, keepdims=True))
  z = jnp.where(mask, jnp.exp(logits - shift), 0.0)
  return z / z.sum(axis=-1, keepdims=True)


def _scatter_top_k(top_weights, top_idx, num_parents):
  """Scatters [N, k] weights at parent indices [N, k] into zeros [N, E]."""
  rows = jnp.arange(top_idx.shape[0])[:, None]
  dense = jnp.zeros((top_idx.shape[0], num_parents), top_weights.dtype)
  return dense.at[rows, top_idx].set(top_weights)


def memory_lookup(x, parent_keys, child_keys, child_values, *, top_k: int,
                  temperature: float, impl: str = "dense"):
  """Reads the memory for every token of x.

  Args:
    x: [..., H] tokens; its dtype is the matmul dtype (keys are cast to it).
    parent_keys: [E, H].
    child_keys: [E, C, H].
    child_values: [E, C, H].
    top_k: parents kept per token, a Python int in [1, E].
    temperature: divides the child logits only; a Python float > 0.
    impl: "dense" (score all children) or "gather" (only the top_k parents').

  Returns:
    (out [..., H] in x's dtype, parent_weights [..., E] in float32), the
    weights summing to 1 over the top_k parents and 0 elsewhere.
  """
  _check_lookup_args(x, parent_keys, child_keys, child_values, top_k,
                     temperature, impl)
  num_parents, num_children, hidden = child_keys.shape
  lead_shape = x.shape[:-1]
  dtype = x.dtype
  x = x.reshape(-1, hidden)
  tokens = x.shape[0]

  if impl == "dense":
    keys = jnp.concatenate(
        [parent_keys, child_keys.reshape(num_parents * num_children, hidden)])
    logits = (x @ keys.astype(dtype).T).astype(jnp.float32)  # [N, E + E*C]
    # Elementwise ops and small reductions only (no top_k, scatter or
    # jax.nn.softmax), so XLA fuses them: about 2x faster on CPU.
    parent_logits = logits[:, :num_parents]
    parent_weights = _masked_softmax(
        parent_logits, _top_k_mask(parent_logits, top_k))
    child_logits = logits[:, num_parents:].reshape(
        tokens, num_parents, num_children) / temperature
    z = jnp.exp(child_logits - jax.lax.stop_gradient(
        child_logits.max(axis=-1, keepdims=True)))
    # p[e] * softmax_c: z is >= 1 at each parent's best child, so no 0 / 0.
    mix = z * (parent_weights / z.sum(axis=-1))[:, :, None]
    mix = mix.reshape(tokens, -1)
    values = child_values.reshape(num_parents * num_children, hidden)
    out = mix.astype(dtype) @ values.astype(dtype)
  else:
    parent_logits = (x @ parent_keys.astype(dtype).T).astype(jnp.float32)
    top_logits, top_idx = jax.lax.top_k(parent_logits, top_k)
    top_weights = jax.nn.softmax(top_logits, axis=-1)  # [N, k]
    parent_weights = _scatter_top_k(top_weights, top_idx, num_parents)
    keys = child_keys.astype(dtype)[top_idx]  # [N, k, C, H]
    values = child_values.astype(dtype)[top_idx]  # [N, k, C, H]
    child_logits = jnp.einsum("nh,nkch->nkc", x, keys).astype(jnp.float32)
    child_probs = jax.nn.softmax(child_logits / temperature, axis=-1)
    mix = top_weights[:, :, None] * child_probs  # [N, k, C]
    out = jnp.einsum("nkc,nkch->nh", mix.astype(dtype), values)

  out = out.astype(dtype).reshape(*lead_shape, hidden)
  return out, parent_weights.reshape(*lead_shape, num_parents)


def load_balancing_loss(parent_weights, mask):
  """Mean over layers of sum_e (mean over real tokens of p[e])**2 / E.

  Uniform parent usage gives 1/E**2, all tokens on one parent gives 1/E.

  Args:
    parent_weights: a sequence of [B, T, E] arrays (one per memory layer) or
      an array [L, B, T, E].
    mask: [B, T], 1 for real tokens and 0 for padding (excluded from means).

  Returns:
    A float32 scalar; 0.0 for an empty sequence or when mask has no real token.
  """
  if isinstance(parent_weights, Sequence):
    if not parent_weights:
      return jnp.zeros((), jnp.float32)
    parent_weights = jnp.stack(parent_weights)
  parent_weights = jnp.asarray(parent_weights, jnp.float32)
  mask = jnp.asarray(mask, jnp.float32)
  if parent_weights.ndim != 4:
    raise ValueError(
        f"parent_weights must be [L, B, T, E] or a sequence of [B, T, E], got "
        f"shape {parent_weights.shape}.")
  if mask.shape != parent_weights.shape[1:3]:
    raise ValueError(
        f"mask.shape={mask.shape} must equal parent_weights' [B, T]="
        f"{parent_weights.shape[1:3]}.")
  num_tokens = jnp.maximum(mask.sum(), 1.0)
  usage = jnp.einsum("lbte,bt->le", parent_weights, mask) / num_tokens
  return jnp.mean(jnp.sum(usage**2, axis=-1) / parent_weights.shape[-1])


class SpartanMemory(nn.Module):
  """Residual SPARTAN memory: y = x + m(x), or LayerNorm(x + m(x)).

  m(x) = sum_e p[e] sum_c q[e, c] child_values[e, c], where p is the softmax
  over the top_k parent logits x . parent_keys[e] (0 elsewhere) and q[e] is
  softmax_c((x . child_keys[e, c]) / temperature). Returns (y, p); y keeps
  x's dtype, the lookup runs in `dtype`.
  """
  num_parents: int
  num_children: int
  top_k: int
  temperature: float
  impl: str = "dense"
  use_layer_norm: bool = False
  layer_norm_eps: float = 1e-12
  dtype: Any = jnp.float32
  param_dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x):
    hidden = x.shape[-1]
    init = nn.initializers.normal(stddev=0.02)
    parent_keys = self.param(
        "parent_keys", init, (self.num_parents, hidden), self.param_dtype)
    child_shape = (self.num_parents, self.num_children, hidden)
    child_keys = self.param("child_keys", init, child_shape, self.param_dtype)
    child_values = self.param(
        "child_values", init, child_shape, self.param_dtype)
    out, parent_weights = memory_lookup(
        x.astype(self.dtype), parent_keys, child_keys, child_values,
        top_k=self.top_k, temperature=self.temperature, impl=self.impl)
    y = x + out.astype(x.dtype)
    if self.use_layer_norm:
      y = nn.LayerNorm(
          epsilon=self.layer_norm_eps, dtype=x.dtype,
          param_dtype=self.param_dtype, name="layer_norm")(y)
    return y, parent_weights
