"""The Forge app's build for the tests: node and npm, the packages, and the Custom UI resources.

The packages come from the npm registry through ``make forge`` and are never committed. Tests never
reach the registry: when ``forge/node_modules`` is missing or older than ``package-lock.json`` they
install from npm's local cache only (``npm ci --offline``), and skip with the reason when they cannot.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
FORGE_DIR = ROOT / "forge"
BUILT = FORGE_DIR / "static"
TIMEOUT = 240


@dataclass(frozen=True)
class ForgeTools:
    """The node binary, once the packages are installed and the resources built into ``BUILT``."""

    node: str

    def run(self, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        """``node <args>`` in ``forge/``."""
        return run_in_forge([self.node, *args], env=env)


def run_in_forge(args: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
    """A command in ``forge/``, its output captured as text."""
    return subprocess.run(args, cwd=FORGE_DIR, capture_output=True, text=True, timeout=TIMEOUT, **kwargs)


def packages_installed() -> bool:
    """npm writes node_modules/.package-lock.json on install; older than the lock file means stale."""
    marker = FORGE_DIR / "node_modules" / ".package-lock.json"
    return marker.exists() and marker.stat().st_mtime >= (FORGE_DIR / "package-lock.json").stat().st_mtime


@pytest.fixture(scope="session")
def forge_tools() -> ForgeTools:
    """Node with the Forge packages installed and the Custom UI resources freshly built."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if not node or not npm:
        pytest.skip("node and npm are needed to build and validate the Forge app (install Node.js 20+)")
    if not packages_installed():
        done = run_in_forge([npm, "ci", "--offline", "--ignore-scripts", "--no-audit", "--no-fund"])
        if done.returncode != 0:
            pytest.skip("the Forge packages are not installed and npm's cache cannot provide them offline: "
                        "run `make forge` once (it installs them from the npm registry)")
    tools = ForgeTools(node)
    built = tools.run("scripts/build.mjs")
    assert built.returncode == 0, built.stderr + built.stdout
    return tools
