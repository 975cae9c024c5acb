"""What the experiments/ scripts share: timing in interleaved rounds, results-file headers, plots.

Imported only by the scripts under experiments/ (the library, spartan_jax, does not depend on it).
"""

import datetime
import math
import os
import platform
import shlex
import sys
import time

from absl import flags
import jax
import numpy as np


def define_timing_flags(repeats: int):
  """--repeats and --min_time, shared by the benchmark scripts."""
  flags.DEFINE_integer('repeats', repeats, 'Interleaved rounds; times are medians over rounds.')
  flags.DEFINE_float('min_time', 0.2, 'Each timed sample loops a case for at least this many seconds.')


def time_cases(cases, repeats: int, min_time: float, settle: bool = False) -> dict:
  """{(variant, kind): [seconds per call, one per round]} of cases with `run()`, `variant` and `kind`.

  Each round runs every case once, kind by kind (so the cases of a ratio run close together), the
  variants of a kind in an order rotated every round; a sample loops its case for >= min_time.
  `settle`: an untimed call before each sample. On the 2-CPU host the first call after a case with GBs
  of temporaries costs ~0.85 s more (a 20 ms case took 850 ms), so without it a case's time depends on
  which case precedes it in the rotation.
  """
  loops = []
  for case in cases:  # Warm-up (excluded), then loop counts so that a sample lasts >= min_time.
    case.run()
    start = time.perf_counter()
    case.run()
    loops.append(max(1, math.ceil(min_time / max(time.perf_counter() - start, 1e-6))))
  groups = {}
  for i, case in enumerate(cases):
    groups.setdefault(case.kind, []).append(i)
  times = {(c.variant, c.kind): [] for c in cases}
  for r in range(repeats):
    for group in groups.values():
      for i in range(len(group)):
        j = group[(i + r) % len(group)]
        if settle:
          cases[j].run()
        start = time.perf_counter()
        for _ in range(loops[j]):
          cases[j].run()
        times[(cases[j].variant, cases[j].kind)].append((time.perf_counter() - start) / loops[j])
  return times


def ratio(num, den):
  """Median and interquartile range of per-round ratios."""
  r = np.asarray(num) / np.asarray(den)
  return float(np.median(r)), float(np.percentile(r, 25)), float(np.percentile(r, 75))


def command_line(module: str) -> str:
  """The command that runs this process again: 'python -m <module> <its arguments>', shell-quoted."""
  return shlex.join(['python', '-m', module, *sys.argv[1:]])


def machine_line() -> str:
  cpu = platform.processor() or platform.machine()
  if os.path.exists('/proc/cpuinfo'):
    with open('/proc/cpuinfo') as f:
      names = [l.split(':', 1)[1].strip() for l in f if l.startswith('model name')]
    cpu = names[0] if names else cpu
  dev = jax.devices()[0]
  load = ', '.join(f'{x:.1f}' for x in os.getloadavg()) if hasattr(os, 'getloadavg') else '?'
  return (f'{os.cpu_count()} CPUs ({cpu}), jax {jax.__version__}, backend {jax.default_backend()} '
          f'({dev.device_kind}, {jax.device_count()} device(s)), prng {jax.config.jax_default_prng_impl}, '
          f"XLA_FLAGS '{os.environ.get('XLA_FLAGS', '')}', load average {load}")


def header(title: str, command: str, start: float, method: str) -> list[str]:
  """The lines that open a results file: title, command, date, machine and how it was measured."""
  return [f'# {title}', '', f'`{command}`', '',
          f'- date: {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M UTC} '
          f'({time.time() - start:.0f} s including compiles)',
          f'- machine: {machine_line()}', f'- {method}', '']


def emit(text: str, path: str) -> None:
  """Prints `text` and, if `path`, writes it there."""
  print(text)
  if path:
    os.makedirs(os.path.dirname(path) or '.', exist_ok=True)
    with open(path, 'w') as f:
      f.write(text)


def pyplot():
  """matplotlib.pyplot on the Agg backend (files only, no display); imported when a script plots."""
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use('Agg')
  from matplotlib import pyplot as plt  # pylint: disable=g-import-not-at-top
  return plt


def shared_legend(axes, **kwargs) -> None:
  """One legend in the first panel with every label of `axes`, each once."""
  handles = {}
  for ax in axes:
    for handle, label in zip(*ax.get_legend_handles_labels()):
      handles.setdefault(label, handle)
  axes[0].legend(handles.values(), handles.keys(), **kwargs)
