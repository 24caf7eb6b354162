"""An example third-party eov plugin: a cloud-cover estimation task."""
from setuptools import find_packages, setup

setup(
    name='eov-cloud-cover',
    version='0.1.0',
    description='Cloud-cover estimation task (a task head) for eov',
    packages=find_packages(include=['eov_cloud', 'eov_cloud.*']),
    python_requires='>=3.10',
    install_requires=['eov', 'numpy', 'Pillow'],
)
