"""The code a run came from, for its results.json: the git commit of this package's checkout."""

import os
import subprocess

_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))


def git_commit(path: str = _PACKAGE_DIR) -> str | None:
  """HEAD's hash of the git checkout holding `path`, plus '-dirty' when a tracked file differs from it;
  None outside a checkout (an installed wheel) or without git."""
  def git(*args):
    return subprocess.run(['git', '-C', path, *args], capture_output=True, text=True, check=True,
                          timeout=30).stdout.strip()
  try:
    commit = git('rev-parse', 'HEAD')
    dirty = git('status', '--porcelain', '--untracked-files=no')
  except (OSError, subprocess.SubprocessError):
    return None
  return commit + ('-dirty' if dirty else '')
