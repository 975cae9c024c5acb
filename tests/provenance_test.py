"""Tests for spartan_jax.provenance: the commit a run records."""

import os
import subprocess

from absl.testing import absltest

from spartan_jax import provenance


def _git(repo, *args):
  return subprocess.run(['git', '-C', repo, '-c', 'user.name=t', '-c', 'user.email=t@t', *args],
                        capture_output=True, text=True, check=True).stdout.strip()


class GitCommitTest(absltest.TestCase):

  def setUp(self):
    super().setUp()
    self.repo = self.create_tempdir().full_path
    _git(self.repo, 'init', '-q')
    self.tracked = os.path.join(self.repo, 'code.py')
    with open(self.tracked, 'w') as f:
      f.write('x = 1\n')
    _git(self.repo, 'add', 'code.py')
    _git(self.repo, 'commit', '-q', '-m', 'first')

  def test_clean_checkout_gives_head(self):
    self.assertEqual(provenance.git_commit(self.repo), _git(self.repo, 'rev-parse', 'HEAD'))

  def test_an_edited_tracked_file_marks_it_dirty(self):
    with open(self.tracked, 'a') as f:
      f.write('y = 2\n')
    self.assertEqual(provenance.git_commit(self.repo), _git(self.repo, 'rev-parse', 'HEAD') + '-dirty')

  def test_untracked_files_such_as_runs_do_not(self):
    with open(os.path.join(self.repo, 'results.json'), 'w') as f:
      f.write('{}')
    self.assertEqual(provenance.git_commit(self.repo), _git(self.repo, 'rev-parse', 'HEAD'))

  def test_untracked_code_inside_another_checkout_gives_none(self):
    installed = os.path.join(self.repo, 'venv', 'site-packages', 'spartan_jax')
    os.makedirs(installed)
    with open(os.path.join(installed, 'provenance.py'), 'w') as f:
      f.write('')
    self.assertIsNone(provenance.git_commit(installed))

  def test_outside_a_checkout_gives_none(self):
    self.assertIsNone(provenance.git_commit(self.create_tempdir().full_path))


if __name__ == '__main__':
  absltest.main()
