"""Data parallelism over every process's devices: one 'data' mesh axis (Auto axis type), replicated
state, batch-sharded inputs; and jax.distributed's start-up on multi-host clusters."""

import glob
import importlib.util
import os

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

MODEL_KEYS = ('input_ids', 'attention_mask', 'token_type_ids', 'label', 'mask')


def cluster_detected(environ=os.environ) -> bool:
  """True where jax.distributed.initialize() would find a multi-process job: the variables its SLURM,
  Open MPI and GKE TPU detectors read, or libtpu beside TPU chips (a TPU VM then asks its metadata server
  for the slice's hosts)."""
  if all(k in environ for k in ('SLURM_JOB_ID', 'SLURM_STEP_NODELIST', 'SLURM_PROCID', 'SLURM_LOCALID')):
    return int(environ.get('SLURM_NTASKS', '1')) > 1  # One task (a sweep's array job) runs alone.
  if 'OMPI_MCA_orte_hnp_uri' in environ:
    return int(environ.get('OMPI_COMM_WORLD_SIZE', '1')) > 1
  if ',' in environ.get('TPU_PROCESS_ADDRESSES', environ.get('TPU_WORKER_HOSTNAMES', '')):
    return True
  tpu_chips = glob.glob('/dev/accel[0-9]*') or glob.glob('/dev/vfio/[0-9]*')
  return bool(tpu_chips) and importlib.util.find_spec('libtpu') is not None


def initialize(coordinator_address: str | None = None, num_processes: int | None = None,
               process_id: int | None = None) -> None:
  """Starts jax.distributed with these arguments, or auto-detected where `cluster_detected()`; a
  single process otherwise. Call before any JAX computation."""
  if coordinator_address is None and num_processes is None and process_id is None and not cluster_detected():
    return
  jax.config.update('jax_cpu_collectives_implementation', 'gloo')  # CPU processes need it; others ignore it.
  jax.distributed.initialize(coordinator_address, num_processes, process_id)


def create_mesh(devices=None) -> Mesh:
  # A plain Mesh has Auto axes: under jax.make_mesh's default Explicit axes, nn.Embed on
  # batch-sharded ids fails.
  return Mesh(np.asarray(devices if devices is not None else jax.devices()), ('data',))


def replicated(mesh: Mesh) -> NamedSharding:
  return NamedSharding(mesh, P())


def batch_sharding(mesh: Mesh) -> NamedSharding:
  return NamedSharding(mesh, P('data'))


def process_rows(batch_size: int, sharding: NamedSharding) -> slice:
  """The rows of a global batch that this process's devices hold (contiguous: the mesh lists each
  process's devices together)."""
  rows = [index[0] for index in sharding.addressable_devices_indices_map((batch_size,)).values()]
  start, stop = min(r.start or 0 for r in rows), max(batch_size if r.stop is None else r.stop for r in rows)
  if stop - start != len(rows) * batch_size // sharding.mesh.size:
    raise ValueError(f'This process\'s devices hold rows {start}..{stop} of {batch_size}: not contiguous.')
  return slice(start, stop)


def shard_batch(batch: dict, sharding: NamedSharding) -> dict:
  """The global numpy batch (the same on every process) → global arrays split over the 'data' axis (model
  keys only); each process transfers only the rows of its own devices."""
  batch_size = len(batch['mask'])
  rows = process_rows(batch_size, sharding)
  return {k: jax.make_array_from_process_local_data(sharding, batch[k][rows], (batch_size, *batch[k].shape[1:]))
          for k in MODEL_KEYS}
