"""spartan_jax: SPARTAN sparse hierarchical memory for frozen BERT/RoBERTa encoders, in JAX/Flax.

Entry points: `spartan_jax.models.model.from_pretrained`, `spartan_jax.train.train_and_evaluate`.
Importing the package sets its XLA CPU defaults (spartan_jax/xla_flags.py).
"""

from spartan_jax import xla_flags

xla_flags.apply()

__version__ = '0.1.0'
