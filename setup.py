"""Package discovery for a layout pyproject.toml cannot express on its own.

The repository keeps ops/ and models/ at the top level for readers; they install inside the
tinygraph package as tinygraph.ops and tinygraph.models, so no bare `ops` or `models` lands in
site-packages. Every package under the three directories is found, so none can be forgotten.
"""
from setuptools import find_packages, setup

ROOTS = {"tinygraph": "tinygraph", "tinygraph.ops": "ops", "tinygraph.models": "models"}

packages = [name for package, directory in ROOTS.items()
            for name in [package, *(f"{package}.{sub}" for sub in find_packages(directory))]]

setup(packages=packages, package_dir=ROOTS)
