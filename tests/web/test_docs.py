"""docs/web.md names every public name of vstorage.web and every error code the web layer sends."""

from __future__ import annotations

import ast
import inspect
import re
from pathlib import Path

import vstorage.web

ROOT = Path(__file__).resolve().parents[2]
WEB_DOC = ROOT / "docs" / "web.md"
WEB_PACKAGE = ROOT / "vstorage" / "web"


def _doc() -> str:
    return WEB_DOC.read_text(encoding="utf-8")


def _called_name(func: ast.expr) -> str | None:
    if isinstance(func, ast.Name):
        return func.id
    if isinstance(func, ast.Attribute):
        return func.attr
    return None


def _error_codes() -> dict[str, str]:
    """Every ``code`` passed to ``HTTPError(status, code, ...)`` in vstorage/web, with its file."""
    codes: dict[str, str] = {}
    for path in sorted(WEB_PACKAGE.glob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call) or _called_name(node.func) != "HTTPError":
                continue
            arguments = node.args[1:2] + [k.value for k in node.keywords if k.arg == "code"]
            for argument in arguments:
                assert isinstance(argument, ast.Constant) and isinstance(argument.value, str), (
                    f"{path.name}:{node.lineno}: an error code must be a string literal"
                )
                codes.setdefault(argument.value, f"{path.name}:{node.lineno}")
    return codes


def test_every_public_name_of_vstorage_web_is_documented() -> None:
    doc = _doc()
    missing = []
    for name in vstorage.web.__all__:
        heading = re.search(rf"^#+ .*\b{re.escape(name)}\b", doc, re.MULTILINE)
        quoted = re.search(rf"`{re.escape(name)}[`(]", doc)
        signature = re.search(rf"^(async )?(def|class) {re.escape(name)}\(", doc, re.MULTILINE)
        if not (heading or quoted) or not signature:
            missing.append(name)
    assert not missing, f"not documented in docs/web.md (name and signature): {missing}"


def _documented_parameters(doc: str, name: str) -> list[str] | None:
    """The parameter names of the signature block of ``name`` in the doc, if there is one."""
    match = re.search(
        rf"^```python\n((?:async )?(?:def|class) {re.escape(name)}\(.*?\))(?: -> [^\n]*)?\n```",
        doc,
        re.MULTILINE | re.DOTALL,
    )
    if match is None:
        return None
    source = re.sub(r"^(async )?class ", "def ", match.group(1)) + ": pass"
    function = ast.parse(source).body[0]
    assert isinstance(function, ast.FunctionDef)
    arguments = function.args
    names = [a.arg for a in [*arguments.posonlyargs, *arguments.args, *arguments.kwonlyargs]]
    if arguments.vararg is not None:
        names.append(arguments.vararg.arg)
    if arguments.kwarg is not None:
        names.append(arguments.kwarg.arg)
    return names


def test_documented_signatures_match_the_code() -> None:
    doc = _doc()
    wrong = {}
    for name in vstorage.web.__all__:
        documented = _documented_parameters(doc, name)
        actual = list(inspect.signature(getattr(vstorage.web, name)).parameters)
        if documented != actual:
            wrong[name] = (documented, actual)
    assert not wrong, f"docs/web.md signatures differ from the code (doc, code): {wrong}"


def test_every_error_code_of_vstorage_web_is_documented() -> None:
    codes = _error_codes()
    # The scan must see the codes built in the routes and in the exception mapping.
    assert {"validation_error", "not_found", "forbidden", "internal_error"} <= set(codes)
    doc = _doc()
    missing = {code: where for code, where in codes.items() if f"`{code}`" not in doc}
    assert not missing, f"error codes missing from docs/web.md: {missing}"
