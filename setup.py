"""Packaging beyond what pyproject.toml can say: the top-level resources/ folder (the sample project, the icons)
ships inside the package as workbench/resources, found by workbench.core.paths both from a checkout and from an
installed wheel (tests/packaging/wheel_smoke.sh checks the wheel)."""

from setuptools import find_packages, setup

RESOURCES = {"workbench.resources.sample": ["*.wbproj"], "workbench.resources.icons": ["*.svg"]}

setup(
    packages=[*find_packages(include=["workbench*"]), "workbench.resources", *RESOURCES],
    package_dir={"workbench.resources": "resources"},
    package_data=RESOURCES,
)
