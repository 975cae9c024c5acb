"""Data parallelism: one 'data' mesh axis (Auto axis type), replicated state, batch-sharded inputs."""

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

MODEL_KEYS = ('input_ids', 'attention_mask', 'token_type_ids', 'label', 'mask')


def create_mesh(devices=None) -> Mesh:
  # A plain Mesh has Auto axes: under jax.make_mesh's default Explicit axes, nn.Embed on
  # batch-sharded ids fails.
  return Mesh(np.asarray(devices if devices is not None else jax.devices()), ('data',))


def replicated(mesh: Mesh) -> NamedSharding:
  return NamedSharding(mesh, P())


def batch_sharding(mesh: Mesh) -> NamedSharding:
  return NamedSharding(mesh, P('data'))


def check_batch_size(batch_size: int, mesh: Mesh, name: str = 'batch_size') -> None:
  per_process = mesh.size // jax.process_count()
  if batch_size % per_process:
    raise ValueError(f'{name}={batch_size} must be divisible by the {per_process} local devices; '
                     f'set --config.train.{name} to a multiple of {per_process}.')


def shard_batch(batch: dict, sharding: NamedSharding) -> dict:
  """This process's numpy batch → global arrays split over the 'data' axis (model keys only)."""
  return {k: jax.make_array_from_process_local_data(sharding, batch[k]) for k in MODEL_KEYS}
