"""Installed dependencies are at or above their published security fixes.

pip-audit needs a vulnerability database (PyPI's JSON API or OSV) that this build machine cannot
reach; until CI can, this offline check holds the floors in pyproject.toml. Add a row when an
advisory is published for a dependency.
"""
from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

import pytest
from packaging.version import Version

# package: (first fixed version, advisories)
FLOORS = {
    "flask": ("3.1.1", "CVE-2025-47278"),
    "werkzeug": ("3.0.6", "CVE-2024-34069, CVE-2024-49766, CVE-2024-49767"),
    "jinja2": ("3.1.6", "CVE-2024-56201, CVE-2024-56326, CVE-2025-27516"),
    "cryptography": ("44.0.1", "CVE-2024-12797"),
    "requests": ("2.32.4", "CVE-2024-35195, CVE-2024-47081"),
    "urllib3": ("2.5.0", "CVE-2024-37891, CVE-2025-50181, CVE-2025-50182"),
    "gunicorn": ("23.0.0", "CVE-2024-1135, CVE-2024-6827"),
    "idna": ("3.7", "CVE-2024-3651"),
    "certifi": ("2024.7.4", "CVE-2024-39689"),
    "redis": ("4.5.4", "CVE-2023-28858, CVE-2023-28859"),
    "babel": ("2.9.1", "CVE-2021-42771"),
    "pyyaml": ("5.4", "CVE-2020-14343"),
    "aiohttp": ("3.12.14", "CVE-2025-53643 (through twilio)"),
}


@pytest.mark.parametrize("package", sorted(FLOORS))
def test_installed_version_is_above_known_advisories(package):
    floor, advisories = FLOORS[package]
    try:
        installed = version(package)
    except PackageNotFoundError:
        pytest.skip(f"{package} is not installed")
    assert Version(installed) >= Version(floor), f"{package} {installed} is below {floor} ({advisories})"
