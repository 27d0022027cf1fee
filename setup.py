"""Packaging: the ``converters/`` folder installs as the ``bridge_converters`` package.

A top-level package named ``converters`` in site-packages would clash with any other distribution that
claims the name; the folder keeps the name the design uses, the import name is ours. Everything else
lives in pyproject.toml.
"""

from setuptools import find_packages, setup

converter_packages = find_packages(include=["converters", "converters.*"])
setup(
    packages=find_packages(include=["bridge", "bridge.*"])
    + ["bridge_converters" + name[len("converters"):] for name in converter_packages],
    package_dir={"bridge_converters": "converters"},
)
