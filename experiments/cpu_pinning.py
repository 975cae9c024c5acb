"""Pinning worker processes to disjoint CPU slices (Linux `taskset`), for sweeps on a CPU host.

Each XLA CPU client sizes its thread pool to the CPUs it may use, so W unpinned processes on one host
oversubscribe its cores; see experiments/benchmark_pinning.py for what pinning buys.
"""

from collections.abc import Sequence
import os
import shutil


def cpu_slices(workers: int) -> list[list[int]] | None:
  """The CPUs this process may use, split into `workers` disjoint equal slices (any remainder unused);
  None where that cannot be done (fewer CPUs than workers, no sched_getaffinity or taskset)."""
  if not hasattr(os, 'sched_getaffinity') or not shutil.which('taskset'):
    return None
  cpus = sorted(os.sched_getaffinity(0))
  size = len(cpus) // workers
  return [cpus[i * size:(i + 1) * size] for i in range(workers)] if size else None


def pin_prefix(cpus: Sequence[int] | None) -> list[str]:
  """The argv prefix that runs a command on `cpus` only (none for None)."""
  return ['taskset', '--cpu-list', ','.join(map(str, cpus))] if cpus else []
