"""Settings is the only reader (and writer) of the process environment in connect_app/.

Every other module gets its configuration from a :class:`~connect_app.settings.Settings`; processes we
start get their environment from ``Settings.child_environment``; prometheus_client, which reads
``PROMETHEUS_MULTIPROC_DIR`` itself, gets it from ``Settings.export_prometheus_multiproc_dir``.
No exception for devtools/: the development stack builds its children's environment through Settings.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "connect_app"
ALLOWED = {"settings.py"}
ENV_NAMES = {"environ", "environb", "getenv", "getenvb", "putenv", "unsetenv"}


def environment_uses(source: str) -> list[str]:
    """``os.environ``-like references in ``source`` (attribute access, ``from os import ...``, aliases)."""
    tree = ast.parse(source)
    os_names = {"os"}
    found: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            os_names |= {a.asname or a.name for a in node.names if a.name == "os"}
        elif isinstance(node, ast.ImportFrom) and node.module == "os":
            found += [f"line {node.lineno}: from os import {a.name}" for a in node.names if a.name in ENV_NAMES]
    for node in ast.walk(tree):
        if (isinstance(node, ast.Attribute) and node.attr in ENV_NAMES
                and isinstance(node.value, ast.Name) and node.value.id in os_names):
            found.append(f"line {node.lineno}: {node.value.id}.{node.attr}")
    return found


def test_only_settings_touches_the_environment():
    offenders = {
        str(path.relative_to(PACKAGE)): uses
        for path in sorted(PACKAGE.rglob("*.py"))
        if str(path.relative_to(PACKAGE)) not in ALLOWED
        and (uses := environment_uses(path.read_text(encoding="utf-8")))
    }
    assert offenders == {}, "read the environment through Settings instead: " + repr(offenders)


def test_the_rule_sees_what_it_forbids():
    assert environment_uses((PACKAGE / "settings.py").read_text(encoding="utf-8"))  # the one reader
    assert environment_uses("import os\nx = os.environ.get('A')")
    assert environment_uses("import os as system\nx = system.getenv('A')")
    assert environment_uses("from os import environ\n")
    assert environment_uses("import os\nos.putenv('A', 'b')")
    assert not environment_uses("from flask import request\nraw = request.environ.get('RAW_URI')")
