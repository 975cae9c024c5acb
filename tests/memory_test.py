"""Tests for spartan_jax.models.memory."""

import functools

from absl.testing import absltest
from absl.testing import parameterized
import chex
import jax
import jax.numpy as jnp
import numpy as np

from spartan_jax.models import memory

_lookup = jax.jit(memory.memory_lookup,
                  static_argnames=("top_k", "temperature", "impl"))
_balance = jax.jit(memory.load_balancing_loss)

# (name, batch, length, hidden, parents, children, top_k)
SHAPES = (
    ("small", 2, 5, 8, 4, 3, 2),
    ("reference_defaults", 1, 7, 16, 16, 3, 8),
    ("top1", 3, 1, 6, 5, 2, 1),
)
LOOKUP_SHAPES = tuple((f"{name}_{impl}", shape, impl)
                      for (name, *shape), impl in zip(
                          SHAPES + SHAPES[:1], ("dense", "gather") * 2))
MODULE_SHAPES = tuple((f"{name}_layer_norm_{ln}", shape, ln)
                      for (name, *shape), ln in zip(SHAPES, (False, True) * 2))


def _softmax(z):
  z = np.exp(z - z.max())
  return z / z.sum()


def _reference(x, parent_keys, child_keys, child_values, top_k, temperature):
  """Float64 loops over tokens and kept parents; returns (out, weights)."""
  x, pk, ck, cv = (np.asarray(a, np.float64)
                   for a in (x, parent_keys, child_keys, child_values))
  lead, hidden = x.shape[:-1], x.shape[-1]
  x = x.reshape(-1, hidden)
  out = np.zeros_like(x)
  weights = np.zeros((x.shape[0], pk.shape[0]))
  for n, token in enumerate(x):
    logits = pk @ token
    kept = np.argsort(-logits)[:top_k]
    weights[n, kept] = _softmax(logits[kept])
    for e in kept:
      child_probs = _softmax(ck[e] @ token / temperature)
      out[n] += weights[n, e] * (child_probs @ cv[e])
  return out.reshape(*lead, hidden), weights.reshape(*lead, pk.shape[0])


def _inputs(seed, lead=(3, 4), hidden=16, parents=8, children=3, top_k=3,
            min_gap=0.05):
  """Random inputs with O(1) logits and no near-tie at the top_k boundary."""
  rng = np.random.default_rng(seed)
  pk = rng.normal(size=(parents, hidden)) / np.sqrt(hidden)
  ck = rng.normal(size=(parents, children, hidden)) / np.sqrt(hidden)
  cv = rng.normal(size=(parents, children, hidden))
  x = rng.normal(size=(*lead, hidden)).reshape(-1, hidden)
  while True:  # Redraw tokens whose k-th and (k+1)-th parent logits are close.
    logits = -np.sort(-(x @ pk.T), axis=-1)
    if top_k == parents:
      break
    close = logits[:, top_k - 1] - logits[:, top_k] < min_gap
    if not close.any():
      break
    x[close] = rng.normal(size=(close.sum(), hidden))
  return tuple(jnp.asarray(a, jnp.float32)
               for a in (x.reshape(*lead, hidden), pk, ck, cv))


class MemoryLookupTest(chex.TestCase):

  @chex.variants(with_jit=True, without_jit=True)
  @parameterized.named_parameters(*LOOKUP_SHAPES)
  def test_shapes(self, shape, impl):
    b, t, h, e, c, k = shape
    dims = chex.Dimensions(B=b, T=t, H=h, E=e, C=c)
    x, pk, ck, cv = _inputs(0, (b, t), h, e, c, k)
    lookup = self.variant(functools.partial(
        memory.memory_lookup, top_k=k, temperature=1.6, impl=impl))
    out, weights = lookup(x, pk, ck, cv)
    chex.assert_shape(out, dims["BTH"])
    chex.assert_shape(weights, dims["BTE"])
    chex.assert_type([out, weights], [jnp.float32, jnp.float32])

  @parameterized.product(impl=memory.IMPLS, top_k=(1, 3, 8))
  def test_matches_numpy_reference(self, impl, top_k):
    x, pk, ck, cv = _inputs(1, top_k=top_k)
    out, weights = _lookup(
        x, pk, ck, cv, top_k=top_k, temperature=1.6, impl=impl)
    ref_out, ref_weights = _reference(x, pk, ck, cv, top_k, 1.6)
    np.testing.assert_allclose(out, ref_out, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(weights, ref_weights, rtol=1e-5, atol=1e-6)

  @parameterized.parameters(*memory.IMPLS)
  def test_matches_numpy_reference_with_many_parents(self, impl):
    # Above _RANK_MASK_MAX_PARENTS the dense impl masks with lax.top_k instead of a rank count.
    parents = memory._RANK_MASK_MAX_PARENTS + 16  # pylint: disable=protected-access
    x, pk, ck, cv = _inputs(4, lead=(2, 5), parents=parents, children=2, top_k=8)
    out, weights = _lookup(x, pk, ck, cv, top_k=8, temperature=1.6, impl=impl)
    ref_out, ref_weights = _reference(x, pk, ck, cv, 8, 1.6)
    np.testing.assert_allclose(out, ref_out, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(weights, ref_weights, rtol=1e-5, atol=1e-6)

  def test_dense_equals_gather_values_and_gradients(self):
    x, pk, ck, cv = _inputs(2, lead=(2, 6), hidden=12, parents=16, top_k=5)
    rng = np.random.default_rng(3)
    out_cot = jnp.asarray(rng.normal(size=x.shape), jnp.float32)
    weight_cot = jnp.asarray(rng.normal(size=(2, 6, 16)), jnp.float32)

    def loss(impl, *args):
      out, weights = _lookup(
          *args, top_k=5, temperature=1.6, impl=impl)
      return jnp.sum(out * out_cot) + jnp.sum(weights * weight_cot)

    results = {}
    for impl in memory.IMPLS:
      grad_fn = jax.jit(jax.value_and_grad(
          functools.partial(loss, impl), argnums=(0, 1, 2, 3)))
      results[impl] = grad_fn(x, pk, ck, cv)
    chex.assert_trees_all_close(
        results["dense"], results["gather"], rtol=1e-5, atol=1e-5)
    for grad in results["dense"][1]:  # Every gradient is non-trivial.
      self.assertGreater(np.abs(grad).max(), 1e-3)

  @parameterized.parameters(*memory.IMPLS)
  def test_parent_weights_are_sparse_softmax(self, impl):
    x, pk, ck, cv = _inputs(4, top_k=3)
    _, weights = _lookup(
        x, pk, ck, cv, top_k=3, temperature=1.6, impl=impl)
    np.testing.assert_array_equal(np.count_nonzero(weights, axis=-1), 3)
    np.testing.assert_allclose(weights.sum(-1), 1.0, rtol=1e-6)
    # The kept parents are the highest-scoring ones.
    logits = np.asarray(x) @ np.asarray(pk).T
    kept = np.argsort(-logits, axis=-1)[..., :3]
    np.testing.assert_array_equal(
        np.sort(kept, -1), np.sort(np.argsort(-weights, axis=-1)[..., :3], -1))

  @parameterized.parameters(*memory.IMPLS)
  def test_full_top_k_is_full_softmax(self, impl):
    x, pk, ck, cv = _inputs(5, parents=6, top_k=6)
    _, weights = _lookup(
        x, pk, ck, cv, top_k=6, temperature=1.6, impl=impl)
    logits = np.asarray(x) @ np.asarray(pk).T
    np.testing.assert_allclose(
        weights, np.apply_along_axis(_softmax, -1, logits), rtol=1e-5,
        atol=1e-7)

  @parameterized.parameters(*memory.IMPLS)
  def test_zero_values_give_zero_output(self, impl):
    x, pk, ck, cv = _inputs(6)
    out, _ = _lookup(
        x, pk, ck, jnp.zeros_like(cv), top_k=3, temperature=1.6, impl=impl)
    np.testing.assert_array_equal(out, np.zeros(x.shape))

  @parameterized.parameters(*memory.IMPLS)
  def test_temperature_scales_child_logits_only(self, impl):
    x, pk, ck, cv = _inputs(7, top_k=2, min_gap=0.2)
    lookup = functools.partial(_lookup, top_k=2, impl=impl)
    out_lo, weights_lo = lookup(x, pk, ck, cv, temperature=0.25)
    out_hi, weights_hi = lookup(x, pk, ck, cv, temperature=4.0)
    # Parent weights ignore the temperature; children follow it.
    np.testing.assert_array_equal(weights_lo, weights_hi)
    self.assertGreater(np.abs(out_lo - out_hi).max(), 0.1)
    np.testing.assert_allclose(
        out_lo, _reference(x, pk, ck, cv, 2, 0.25)[0], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(
        out_hi, _reference(x, pk, ck, cv, 2, 4.0)[0], rtol=1e-5, atol=1e-5)
    # A large temperature flattens each parent's children to their mean value.
    out_flat, _ = lookup(x, pk, ck, cv, temperature=1e6)
    mean_values = np.einsum("...e,eh->...h", weights_lo, cv.mean(axis=1))
    np.testing.assert_allclose(out_flat, mean_values, rtol=1e-4, atol=1e-5)

  @parameterized.parameters(*memory.IMPLS)
  def test_bfloat16_close_to_float32(self, impl):
    x, pk, ck, cv = _inputs(8, min_gap=0.5)
    lookup = functools.partial(
        _lookup, top_k=3, temperature=1.6, impl=impl)
    out32, weights32 = lookup(x, pk, ck, cv)
    out16, weights16 = lookup(
        x.astype(jnp.bfloat16), pk.astype(jnp.bfloat16),
        ck.astype(jnp.bfloat16), cv.astype(jnp.bfloat16))
    chex.assert_type([out16, weights16], [jnp.bfloat16, jnp.float32])
    np.testing.assert_allclose(
        out16.astype(jnp.float32), out32, rtol=0.05, atol=0.05)
    np.testing.assert_allclose(weights16, weights32, atol=0.02)

  @parameterized.named_parameters(
      ("top_k_zero", dict(top_k=0), "top_k"),
      ("top_k_too_big", dict(top_k=9), "top_k"),
      ("temperature_zero", dict(temperature=0.0), "temperature"),
      ("temperature_negative", dict(temperature=-1.0), "temperature"),
      ("impl_unknown", dict(impl="sparse"), "impl"),
      ("x_hidden", dict(x=jnp.zeros((2, 7))), "x.shape"),
      ("child_keys_hidden", dict(child_keys=jnp.zeros((8, 3, 7)),
                                 child_values=jnp.zeros((8, 3, 7))),
       "child_keys"),
      ("child_values_shape", dict(child_values=jnp.zeros((8, 2, 16))),
       "child_values"),
      ("parents_mismatch", dict(child_keys=jnp.zeros((4, 3, 16)),
                                child_values=jnp.zeros((4, 3, 16))),
       "parent_keys"),
      ("parent_keys_rank", dict(parent_keys=jnp.zeros((8, 16, 1))),
       "parent_keys"),
  )
  def test_lookup_errors(self, overrides, name):
    x, pk, ck, cv = _inputs(9)
    kwargs = dict(x=x, parent_keys=pk, child_keys=ck, child_values=cv,
                  top_k=3, temperature=1.6, impl="dense")
    kwargs.update(overrides)
    with self.assertRaisesRegex(ValueError, name):
      memory.memory_lookup(**kwargs)


class ChildrenPerParentTest(parameterized.TestCase):

  def test_divides(self):
    self.assertEqual(memory.children_per_parent(48, 16), 3)

  @parameterized.parameters((50, 16), (48, 0))
  def test_errors_name_config_fields(self, memory_size, num_parents):
    with self.assertRaisesRegex(ValueError, "num_parents"):
      memory.children_per_parent(memory_size, num_parents)


def _reference_balance_loss(weights, mask):
  weights, mask = np.asarray(weights, np.float64), np.asarray(mask, bool)
  per_layer = [np.sum(w[mask].mean(axis=0) ** 2) / w.shape[-1]
               for w in weights]
  return np.mean(per_layer)


class LoadBalancingLossTest(parameterized.TestCase):

  def _weights_and_mask(self):
    rng = np.random.default_rng(10)
    weights = rng.dirichlet(np.ones(6), size=(3, 2, 5)).astype(np.float32)
    mask = np.array([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]], np.float32)
    return weights, mask

  def test_matches_numpy_reference(self):
    weights, mask = self._weights_and_mask()
    loss = _balance(jnp.asarray(weights), jnp.asarray(mask))
    chex.assert_shape(loss, ())
    chex.assert_type(loss, jnp.float32)
    np.testing.assert_allclose(
        loss, _reference_balance_loss(weights, mask), rtol=1e-6)

  def test_padding_is_ignored(self):
    weights, mask = self._weights_and_mask()
    changed = weights.copy()
    changed[:, mask == 0] = np.eye(6, dtype=np.float32)[0]
    np.testing.assert_allclose(
        _balance(changed, mask),
        _balance(weights, mask), rtol=1e-6)
    self.assertNotAlmostEqual(
        float(_balance(changed, np.ones_like(mask))),
        float(_balance(weights, np.ones_like(mask))))

  def test_list_equals_stacked(self):
    weights, mask = self._weights_and_mask()
    np.testing.assert_allclose(
        _balance([jnp.asarray(w) for w in weights], mask),
        _balance(weights, mask), rtol=1e-6)

  def test_uniform_and_collapsed_extremes(self):
    mask = np.ones((2, 3))
    uniform = np.full((1, 2, 3, 4), 0.25)
    collapsed = np.zeros((1, 2, 3, 4))
    collapsed[..., 0] = 1.0
    np.testing.assert_allclose(
        _balance(uniform, mask), 1 / 16, rtol=1e-6)
    np.testing.assert_allclose(
        _balance(collapsed, mask), 1 / 4, rtol=1e-6)

  def test_empty_sequence_is_zero(self):
    loss = _balance([], np.ones((2, 3)))
    self.assertEqual(float(loss), 0.0)
    chex.assert_type(loss, jnp.float32)

  @parameterized.named_parameters(
      ("mask_shape", (2, 2, 5, 6), (2, 4), "mask"),
      ("weights_rank", (2, 5, 6), (2, 5), "parent_weights"),
  )
  def test_errors(self, weights_shape, mask_shape, name):
    with self.assertRaisesRegex(ValueError, name):
      memory.load_balancing_loss(np.zeros(weights_shape), np.ones(mask_shape))


def _random_params(model, x, seed=0):
  """Normal params of model's shapes, drawn in numpy (no RNG compiles)."""
  rng = np.random.default_rng(seed)
  shapes = jax.eval_shape(model.init, jax.random.key(0), x)
  return jax.tree.map(
      lambda s: jnp.asarray(rng.normal(size=s.shape) / 4, s.dtype), shapes)


def _random_x(shape, seed=0):
  return jnp.asarray(np.random.default_rng(seed).normal(size=shape),
                     jnp.float32)


class SpartanMemoryTest(chex.TestCase):

  @chex.variants(with_jit=True, without_jit=True)
  @parameterized.named_parameters(*MODULE_SHAPES)
  def test_shapes(self, shape, use_layer_norm):
    b, t, h, e, c, k = shape
    dims = chex.Dimensions(B=b, T=t, H=h, E=e, C=c)
    model = memory.SpartanMemory(
        num_parents=e, num_children=c, top_k=k, temperature=1.6,
        use_layer_norm=use_layer_norm)
    x = _random_x(dims["BTH"])
    y, weights = self.variant(model.apply)(_random_params(model, x), x)
    chex.assert_shape(y, dims["BTH"])
    chex.assert_shape(weights, dims["BTE"])

  def test_param_names_shapes_and_init_std(self):
    model = memory.SpartanMemory(
        num_parents=64, num_children=8, top_k=8, temperature=1.6,
        use_layer_norm=True)
    params = jax.jit(model.init)(
        jax.random.key(0), jnp.zeros((1, 2, 128)))["params"]
    shapes = jax.tree.map(jnp.shape, params)
    self.assertEqual(shapes, {
        "parent_keys": (64, 128),
        "child_keys": (64, 8, 128),
        "child_values": (64, 8, 128),
        "layer_norm": {"scale": (128,), "bias": (128,)},
    })
    for name in ("parent_keys", "child_keys", "child_values"):
      self.assertAlmostEqual(float(params[name].std()), 0.02, delta=0.001)
      self.assertAlmostEqual(float(params[name].mean()), 0.0, delta=0.001)

  @parameterized.parameters(*memory.IMPLS)
  def test_matches_lookup(self, impl):
    model = memory.SpartanMemory(
        num_parents=8, num_children=3, top_k=3, temperature=1.6, impl=impl)
    x, pk, ck, cv = _inputs(11)
    params = {"params": {
        "parent_keys": pk, "child_keys": ck, "child_values": cv}}
    y, weights = jax.jit(model.apply)(params, x)
    out, ref_weights = _reference(x, pk, ck, cv, 3, 1.6)
    np.testing.assert_allclose(y, x + out, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(weights, ref_weights, rtol=1e-5, atol=1e-6)

  @parameterized.parameters(*memory.IMPLS)
  def test_zero_values_return_input_exactly(self, impl):
    model = memory.SpartanMemory(
        num_parents=8, num_children=3, top_k=3, temperature=1.6, impl=impl)
    x = _random_x((2, 5, 16))
    params = _random_params(model, x)
    params["params"]["child_values"] = jnp.zeros((8, 3, 16))
    y, _ = jax.jit(model.apply)(params, x)
    np.testing.assert_array_equal(y, x)

  def test_layer_norm_is_post_residual(self):
    model = memory.SpartanMemory(
        num_parents=8, num_children=3, top_k=3, temperature=1.6,
        use_layer_norm=True, layer_norm_eps=1e-6)
    x = _random_x((2, 5, 16))
    params = _random_params(model, x)
    y, _ = jax.jit(model.apply)(params, x)
    p = params["params"]
    out, _ = _reference(x, p["parent_keys"], p["child_keys"],
                        p["child_values"], 3, 1.6)
    z = np.asarray(x, np.float64) + out
    mean, var = z.mean(-1, keepdims=True), z.var(-1, keepdims=True)
    expected = ((z - mean) / np.sqrt(var + 1e-6) * p["layer_norm"]["scale"]
                + p["layer_norm"]["bias"])
    np.testing.assert_allclose(y, expected, rtol=1e-5, atol=1e-5)

  def test_bfloat16_compute_keeps_input_dtype(self):
    model = memory.SpartanMemory(
        num_parents=8, num_children=3, top_k=3, temperature=1.6,
        dtype=jnp.bfloat16)
    x = _random_x((2, 5, 16))
    params = _random_params(model, x)
    y, weights = jax.jit(model.apply)(params, x)
    chex.assert_type([y, weights], [jnp.float32, jnp.float32])
    y32, _ = jax.jit(model.clone(dtype=jnp.float32).apply)(params, x)
    np.testing.assert_allclose(y, y32, atol=0.01)

  def test_bad_top_k_raises_at_init(self):
    model = memory.SpartanMemory(
        num_parents=4, num_children=3, top_k=5, temperature=1.6)
    with self.assertRaisesRegex(ValueError, "top_k"):
      jax.eval_shape(model.init, jax.random.key(0), jnp.zeros((1, 2, 8)))


if __name__ == "__main__":
  absltest.main()
