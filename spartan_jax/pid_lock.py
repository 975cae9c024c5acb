"""Pid files that mark something as in use: '<host> <pid>', created atomically (O_EXCL).

A lock whose process has died on this host is stale and is taken over; one written on another host is
trusted until someone deletes it.
"""

import os
import socket

WORKDIR_LOCK = 'TRAINING'  # The lock train.train_and_evaluate holds in its workdir while it runs.


def _this_process() -> str:
  return f'{socket.gethostname()} {os.getpid()}'


def owner(path: str) -> str | None:
  """'host pid' of the live process that holds `path`; None when there is none or it died."""
  try:
    with open(path) as f:
      held_by = f.read().strip()
  except FileNotFoundError:
    return None
  host, _, pid = held_by.rpartition(' ')
  if host == socket.gethostname() and pid.isdigit():
    try:
      os.kill(int(pid), 0)
    except ProcessLookupError:
      return None
    except PermissionError:
      pass  # Alive, another user's.
  return held_by


def acquire(path: str) -> str | None:
  """Takes `path` for this process; returns None, or the owner that holds it."""
  if os.path.exists(path) and owner(path) is None:
    os.remove(path)  # Left by a killed process.
  try:
    fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
  except FileExistsError:
    return owner(path) or 'a process that just ended'
  with os.fdopen(fd, 'w') as f:
    f.write(_this_process() + '\n')
  return None


def release(path: str) -> None:
  """Removes `path` if this process holds it; one already gone or taken by another is left alone."""
  if owner(path) == _this_process():
    try:
      os.remove(path)
    except FileNotFoundError:
      pass  # Deleted by hand just now.
