"""spartan_jax: SPARTAN sparse hierarchical memory for frozen BERT/RoBERTa encoders, in JAX/Flax.

Entry points: `spartan_jax.models.model.from_pretrained`, `spartan_jax.train.train_and_evaluate`.
"""

__version__ = '0.1.0'
