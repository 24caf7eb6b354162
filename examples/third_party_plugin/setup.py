"""An example third-party eov plugin: a digital surface model (DSM) modality."""
from setuptools import find_packages, setup

setup(
    name='eov-dsm',
    version='0.1.0',
    description='Single-band elevation (DSM) modality for eov',
    packages=find_packages(include=['eov_dsm', 'eov_dsm.*']),
    python_requires='>=3.10',
    install_requires=['eov', 'rasterio>=1.3', 'numpy'],
)
