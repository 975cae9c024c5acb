"""spartan_jax.pid_lock: who holds a pid file, taking it, stale and foreign locks."""

import os
import socket
import subprocess
import sys

from absl.testing import absltest

from spartan_jax import pid_lock


def _dead_pid():
  process = subprocess.Popen([sys.executable, '-c', 'pass'])
  process.wait()
  return process.pid


class PidLockTest(absltest.TestCase):

  def setUp(self):
    super().setUp()
    self.path = os.path.join(self.create_tempdir().full_path, 'LOCK')

  def _write(self, owner):
    with open(self.path, 'w') as f:
      f.write(owner + '\n')

  def test_acquire_then_a_second_acquire_names_the_owner(self):
    self.assertIsNone(pid_lock.owner(self.path))
    self.assertIsNone(pid_lock.acquire(self.path))
    me = f'{socket.gethostname()} {os.getpid()}'
    self.assertEqual(pid_lock.owner(self.path), me)
    self.assertEqual(pid_lock.acquire(self.path), me)

  def test_a_dead_owner_on_this_host_is_taken_over(self):
    self._write(f'{socket.gethostname()} {_dead_pid()}')
    self.assertIsNone(pid_lock.owner(self.path))
    self.assertIsNone(pid_lock.acquire(self.path))
    self.assertEqual(pid_lock.owner(self.path), f'{socket.gethostname()} {os.getpid()}')

  def test_a_lock_from_another_host_is_trusted(self):
    foreign = f'not-{socket.gethostname()} {_dead_pid()}'
    self._write(foreign)
    self.assertEqual(pid_lock.owner(self.path), foreign)
    self.assertEqual(pid_lock.acquire(self.path), foreign)

  def test_release_removes_only_this_process_lock(self):
    self.assertIsNone(pid_lock.acquire(self.path))
    pid_lock.release(self.path)
    self.assertFalse(os.path.exists(self.path))
    pid_lock.release(self.path)  # Already gone (deleted by hand): no error.
    foreign = f'not-{socket.gethostname()} 1'
    self._write(foreign)
    pid_lock.release(self.path)
    self.assertEqual(pid_lock.owner(self.path), foreign)

if __name__ == '__main__':
  absltest.main()
