"""The code a run came from, for its results.json: the git commit of this package's checkout."""

import os
import subprocess

_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))


def git_commit(path: str = _PACKAGE_DIR) -> str | None:
  """HEAD's hash of the git checkout holding `path`, plus '-dirty' when a tracked file differs from it;
  None outside a checkout (an installed wheel), without git, or when the checkout does not track `path`
  (a package installed into a virtual environment that lies inside some other repository)."""
  def git(*args):
    return subprocess.run(['git', '-C', path, *args], capture_output=True, text=True, check=True,
                          timeout=30).stdout.strip()
  try:
    commit = git('rev-parse', 'HEAD')
    if not git('ls-files', '--', '.'):
      return None
    dirty = git('status', '--porcelain', '--untracked-files=no')
  except (OSError, subprocess.SubprocessError):
    return None
  return commit + ('-dirty' if dirty else '')
