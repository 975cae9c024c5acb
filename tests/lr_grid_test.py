"""Tests for experiments.lr_grid: when a seed-13 lr choice is final."""

from absl.testing import absltest
from absl.testing import parameterized

from experiments import lr_grid

PEFT = lr_grid.PEFT_LADDER


class StillNeededTest(parameterized.TestCase):

  @parameterized.named_parameters(
      ('grid_not_done', {1e-3: .8}, 1e-3, [3e-4, 3e-3]),
      ('nothing_run', {}, None, [3e-4, 1e-3, 3e-3]),
      ('best_inside', {3e-4: .7, 1e-3: .8, 3e-3: .6}, 1e-3, []),
      ('best_at_top_edge', {3e-4: .6, 1e-3: .7, 3e-3: .8}, 3e-3, [1e-2]),
      ('best_at_bottom_edge', {3e-4: .8, 1e-3: .7, 3e-3: .6}, 3e-4, [1e-4]),
      ('bottom_edge_only_ties', {3e-4: 0., 1e-3: 0., 3e-3: 0.}, 3e-4, []),
      ('edge_run_lost', {3e-4: .6, 1e-3: .7, 3e-3: .8, 1e-2: .75}, 3e-3, []),
      ('climbs_past_1e-2', {3e-4: .6, 1e-3: .7, 3e-3: .8, 1e-2: .9}, 1e-2, [3e-2]),
      ('best_at_ladder_top', {3e-4: .6, 1e-3: .7, 3e-3: .8, 1e-2: .85, 3e-2: .9, 1e-1: .95}, 1e-1, []),
      ('best_at_ladder_bottom', {1e-4: .9, 3e-4: .8, 1e-3: .7, 3e-3: .6}, 1e-4, []),
  )
  def test_peft_ladder(self, dev, chosen, needed):
    self.assertEqual(lr_grid.still_needed(PEFT, dev, chosen), needed)

  def test_full_fine_tuning_has_its_own_ladder(self):
    self.assertEqual(lr_grid.ladder('full'), lr_grid.FULL_LADDER)
    self.assertEqual(lr_grid.still_needed(lr_grid.FULL_LADDER, {1e-5: .6, 3e-5: .7, 1e-4: .8}, 1e-4), [3e-4])
    self.assertEqual(lr_grid.still_needed(lr_grid.FULL_LADDER, {1e-5: .6, 3e-5: .8, 1e-4: .7}, 3e-5), [])

  def test_records_read_back_from_json_match_the_ladder(self):
    self.assertEqual(lr_grid.still_needed(PEFT, {0.0003: .6, 0.001: .7, 0.003: .8}, 0.003), [0.01])


class GridTest(absltest.TestCase):

  def test_methods_split_by_ladder_at_the_same_rungs(self):
    grids = lr_grid.grid(['stsb'], ['spartan', 'full', 'lora'], seed=13, rungs=[1, 3])
    self.assertEqual([(g['method'], g['train.learning_rate']) for g in grids],
                     [(['spartan', 'lora'], [3e-4, 3e-3]), (['full'], [1e-5, 1e-4])])
    for g in grids:
      self.assertEqual({k: g[k] for k in ('task', 'seed')}, {'task': ['stsb'], 'seed': 13})
      self.assertLessEqual(lr_grid.RECIPE.items(), g.items())

  def test_default_rung_is_the_reference_lr(self):
    self.assertEqual(lr_grid.PEFT_LADDER[lr_grid.DEFAULT_RUNG], 1e-3)
    self.assertEqual(lr_grid.FULL_LADDER[lr_grid.DEFAULT_RUNG], 3e-5)


if __name__ == '__main__':
  absltest.main()
