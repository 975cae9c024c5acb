"""Tests for experiments.specialization: the analysis on synthetic parent weights, and a tiny-model smoke test."""

import os
import sys

from absl.testing import absltest
from absl.testing import parameterized
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # experiments/ is not installed.
from experiments import specialization  # pylint: disable=g-import-not-at-top
from spartan_jax.data import pipeline
import helpers  # pylint: disable=g-import-not-at-top

LAYERS, PARENTS, TOPICS = 2, 8, 4


def one_hot_weights(top, parents=PARENTS):
  """[L, B, T, E] weights with all mass on parent `top` [L, B, T]."""
  return np.eye(parents)[top]


def random_weights(rng, shape):
  """Non-negative weights that sum to 1 over the last axis."""
  w = rng.random(shape)
  return w / w.sum(-1, keepdims=True)


class ArticleMeansTest(parameterized.TestCase):

  def test_excludes_padding_tokens(self):
    rng = np.random.default_rng(0)
    weights = random_weights(rng, (LAYERS, 3, 6, PARENTS))
    mask = np.array([[1, 1, 1, 1, 1, 1], [1, 1, 0, 0, 0, 0], [1, 1, 1, 0, 0, 0]])
    padded = np.where(mask[None, :, :, None] > 0, weights, 1e6)  # Garbage where padded.
    got = specialization.article_means(padded, mask)
    self.assertEqual(got.shape, (3, LAYERS, PARENTS))
    for row, n in enumerate(mask.sum(1)):
      np.testing.assert_allclose(got[row], weights[:, row, :n].mean(axis=1))
    np.testing.assert_allclose(got.sum(-1), 1.0)

  def test_accepts_a_tuple_of_layers(self):
    weights = random_weights(np.random.default_rng(1), (LAYERS, 2, 5, PARENTS))
    mask = np.ones((2, 5))
    np.testing.assert_allclose(specialization.article_means(tuple(weights), mask),
                               specialization.article_means(weights, mask))

  def test_rejects_a_row_without_tokens(self):
    with self.assertRaisesRegex(ValueError, 'no real token'):
      specialization.article_means(np.ones((1, 2, 3, 4)), np.array([[1, 0, 0], [0, 0, 0]]))


class TopicMeansTest(parameterized.TestCase):

  def test_articles_weigh_equally(self):
    per_article = np.array([[[1., 0.]], [[0., 1.]], [[0., 1.]], [[1., 0.]]])  # [N=4, L=1, E=2]
    topics = np.array([0, 0, 0, 1])
    got = specialization.topic_means(per_article, topics, 2)
    self.assertEqual(got.shape, (1, 2, 2))
    np.testing.assert_allclose(got[0], [[1 / 3, 2 / 3], [1, 0]])

  def test_padding_does_not_leak_into_topic_means(self):
    # Topic t's articles use parent t on real tokens and parent 0 on padding (with mass 1, like a real token).
    rng = np.random.default_rng(2)
    topics = np.repeat(np.arange(TOPICS), 3)
    mask = (np.arange(10)[None] < rng.integers(2, 10, len(topics))[:, None]).astype(int)
    top = np.where(mask > 0, topics[:, None] + 1, 0)
    weights = one_hot_weights(np.broadcast_to(top, (LAYERS,) + top.shape))
    means = specialization.topic_means(specialization.article_means(weights, mask), topics, TOPICS)
    expected = np.zeros((TOPICS, PARENTS))
    expected[np.arange(TOPICS), np.arange(TOPICS) + 1] = 1
    np.testing.assert_allclose(means, np.broadcast_to(expected, (LAYERS, TOPICS, PARENTS)))
    np.testing.assert_allclose(specialization.top_share(means), 1.0)

  def test_rejects_a_missing_topic(self):
    with self.assertRaisesRegex(ValueError, 'needs an article'):
      specialization.topic_means(np.ones((2, 1, 3)), np.array([0, 0]), 2)


class NmiTest(parameterized.TestCase):

  def test_top_parents_skip_padding(self):
    top = np.array([[[3, 1, 0], [2, 0, 0]]])  # [L=1, B=2, T=3]
    mask = np.array([[1, 1, 0], [1, 0, 0]])
    got, rows = specialization.top_parents(one_hot_weights(top), mask)
    np.testing.assert_array_equal(got, [[3, 1, 2]])
    np.testing.assert_array_equal(rows, [0, 0, 1])

  def test_perfect_specialisation_is_one(self):
    rng = np.random.default_rng(3)
    topics = rng.integers(0, TOPICS, 500)
    top = np.stack([2 * topics, (topics + 1) % TOPICS])  # Two layers, each a one-to-one parent per topic.
    np.testing.assert_allclose(specialization.top_parent_nmi(top, topics), 1.0)

  def test_independent_routing_is_near_zero(self):
    rng = np.random.default_rng(4)
    topics = rng.integers(0, TOPICS, 20_000)
    top = rng.integers(0, PARENTS, (LAYERS, 20_000))
    nmi = specialization.top_parent_nmi(top, topics)
    self.assertEqual(nmi.shape, (LAYERS,))
    self.assertTrue(np.all(nmi < 0.01), nmi)

  def test_analyze_known_routing(self):
    # Layer 0 routes by topic (topic t -> parent t), layer 1 uniformly at random; padding routes to parent 7.
    rng = np.random.default_rng(5)
    topics = rng.integers(0, TOPICS, 300)
    mask = (np.arange(20)[None] < rng.integers(5, 21, len(topics))[:, None]).astype(int)
    layer0 = np.broadcast_to(topics[:, None], mask.shape)
    layer1 = rng.integers(0, PARENTS - 1, mask.shape)
    top = np.where(mask > 0, np.stack([layer0, layer1]), PARENTS - 1)
    weights = one_hot_weights(top)
    tops, rows = specialization.top_parents(weights, mask)
    routing = {'article_means': specialization.article_means(weights, mask), 'topics': topics,
               'top_parents': tops, 'token_articles': rows}
    scores = specialization.analyze(routing, TOPICS)
    np.testing.assert_allclose([scores['nmi'][0], scores['article_nmi'][0], scores['top_share'][0]], 1.0)
    self.assertLess(scores['nmi'][1], 0.01)
    self.assertLess(max(scores['nmi_shuffled']), 0.05)
    self.assertLess(scores['top_share'][1], 0.4)  # Blind: about 1/TOPICS.
    self.assertEqual(scores['topic_means'].shape, (LAYERS, TOPICS, PARENTS))


class SmokeTest(absltest.TestCase):

  def test_tiny_model_routing_and_report(self):
    model, params = helpers.tiny_model('spartan', num_labels=TOPICS)
    n = 10
    ids, mask, _ = helpers.random_batch(6, n, 12)
    encoded = pipeline.Encoded(
        input_ids=[ids[i, :mask[i].sum()] for i in range(n)],
        token_type_ids=[np.zeros(mask[i].sum(), np.int32) for i in range(n)],
        label=np.arange(n, dtype=np.int32) % TOPICS, idx=np.arange(n, dtype=np.int32),
        pad_id=helpers.TINY_BERT.pad_token_id, buckets=(16,))  # One shape: one compile.
    routing = specialization.collect_routing(specialization.make_forward(model), params, encoded, batch_size=4)
    layers = helpers.TINY_BERT.num_hidden_layers
    self.assertEqual(routing['article_means'].shape[:2], (n, layers))
    self.assertEqual(routing['top_parents'].shape, (layers, int(mask.sum())))
    np.testing.assert_allclose(routing['article_means'].sum(-1), 1.0, rtol=1e-5)
    scores = specialization.analyze(routing, TOPICS)
    self.assertTrue(all(0 <= v <= 1 for key in ('nmi', 'article_nmi', 'top_share') for v in scores[key]))

    out = os.path.join(self.create_tempdir().full_path, 'spec')
    both = {'trained': scores, 'untrained': scores}
    for path in (specialization.plot_heatmaps(scores['topic_means'], scores['topic_means'],
                                              [f't{i}' for i in range(TOPICS)], f'{out}_heatmaps.png'),
                 specialization.plot_nmi(both, f'{out}_nmi.png')):
      self.assertGreater(os.path.getsize(path), 0)


if __name__ == '__main__':
  absltest.main()
