"""No shell anywhere, ruff's security rules on for the code, and the UIs scripted to listen on
127.0.0.1 only."""

from __future__ import annotations

import ast
import re
import tomllib

import pytest

from tests.helpers import PROJECT_ROOT

CODE = sorted(
    path
    for folder in ("src", "tests", "benchmarks")
    for path in (PROJECT_ROOT / folder).rglob("*.py")
)


def _calls(path):
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Call):
            yield node


@pytest.mark.parametrize("path", CODE, ids=lambda path: str(path.relative_to(PROJECT_ROOT)))
def test_no_shell_and_no_dynamic_code(path):
    for call in _calls(path):
        where = f"{path.relative_to(PROJECT_ROOT)}:{call.lineno}"
        shell = [
            k
            for k in call.keywords
            if k.arg == "shell"
            and not (isinstance(k.value, ast.Constant) and k.value.value is False)
        ]
        assert not shell, f"{where}: shell=... (pass an argument list instead)"
        function = call.func
        if isinstance(function, ast.Attribute) and isinstance(function.value, ast.Name):
            assert (function.value.id, function.attr) not in {
                ("os", "system"),
                ("os", "popen"),
                ("pickle", "load"),
                ("pickle", "loads"),
            }, where
        if isinstance(function, ast.Name):
            assert function.id not in {"eval", "exec"}, where


def test_ruff_security_rules_are_on_for_the_code():
    ruff = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())["tool"]["ruff"]["lint"]
    assert "S" in ruff["select"]
    assert not any(rule == "S" or rule.startswith("S") for rule in ruff.get("ignore", []))
    for pattern, ignored in ruff.get("per-file-ignores", {}).items():
        # Tests and benchmarks may assert and start their own children; src never opts out.
        assert not pattern.startswith("src"), pattern
        assert "S" not in ignored and "S602" not in ignored and "S605" not in ignored, (
            pattern,
            ignored,
        )


def test_the_uis_listen_on_localhost_only():
    makefile = (PROJECT_ROOT / "Makefile").read_text()
    # Each target → its recipe (every tab-indented line under it).
    targets = dict(
        re.findall(r"^([\w-]+):[^\n]*\n((?:\t[^\n]*\n?)+)", makefile, flags=re.MULTILINE)
    )
    assert "kedro viz run --host 127.0.0.1" in targets["viz"]
    assert "mlflow ui" in targets["mlflow-ui"] and "--host 127.0.0.1" in targets["mlflow-ui"]
    for text in (makefile, (PROJECT_ROOT / "README.md").read_text()):
        assert "0.0.0.0" not in text  # noqa: S104 - checking that no address of all interfaces is used
