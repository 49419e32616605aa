"""The package's one-way layering holds: import-linter contracts, and no import hidden in a function.

The one exception is :mod:`scaling.cli`, the top layer: its commands import the library when they
run, so that ``scaling --help`` starts without pandas, scipy or matplotlib (tests/test_startup.py).
Nothing sits above the CLI, so an import there cannot break the one-way layering.
"""

from __future__ import annotations

import ast
import os
from pathlib import Path

from importlinter import cli

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "scaling"
#: where the package may be imported inside functions (lazily, for a fast start).
LAZY_OK = PACKAGE / "cli"


def test_import_contracts_are_kept():
    cwd = os.getcwd()
    os.chdir(ROOT)  # the contracts live in pyproject.toml
    try:
        assert cli.lint_imports() == 0
    finally:
        os.chdir(cwd)


def test_no_scaling_import_inside_a_function():
    hidden = []
    for path in PACKAGE.rglob("*.py"):
        if LAZY_OK in path.parents:
            continue
        tree = ast.parse(path.read_text(), filename=str(path))
        for func in ast.walk(tree):
            if not isinstance(func, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            for node in ast.walk(func):
                names = []
                if isinstance(node, ast.ImportFrom):
                    names = [node.module or ""] if node.level == 0 else ["." * node.level]
                elif isinstance(node, ast.Import):
                    names = [a.name for a in node.names]
                if any(n.startswith("scaling") or n.startswith(".") for n in names):
                    hidden.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert not hidden, f"imports of the package inside functions: {hidden}"
