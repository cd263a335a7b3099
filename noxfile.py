"""Every routine task: ``nox -s tests``, ``lint``, ``typecheck``, ``bench``, ``demo``."""

from __future__ import annotations

import nox

nox.options.sessions = ["lint", "typecheck", "tests"]
nox.options.reuse_existing_virtualenvs = True

PYTHON = "3.11"


def _install(session: nox.Session, *groups: str, extras: str = "") -> None:
    # Dependency groups need pip >= 25.1; the pip bundled with Python 3.11 is older.
    session.install("--quiet", "--upgrade", "pip")
    args = ["--quiet", "-e", f".[{extras}]" if extras else "."]
    for group in groups:
        args += ["--group", group]
    session.install(*args)


@nox.session(python=PYTHON)
def tests(session: nox.Session) -> None:
    """Run the whole test suite."""
    _install(session, "test")
    session.run("python", "-m", "pytest", *(session.posargs or ["-q"]))


@nox.session(python=PYTHON)
def lint(session: nox.Session) -> None:
    """Ruff: lint and formatting."""
    session.install("--quiet", "ruff")
    session.run("ruff", "check", "vstorage", "tests", "benchmarks", "examples", "noxfile.py")
    session.run("ruff", "format", "--check", "vstorage", "tests", "benchmarks", "examples")


@nox.session(python=PYTHON)
def typecheck(session: nox.Session) -> None:
    """Mypy, strict, on the package."""
    _install(session, "dev")
    session.run("mypy")


@nox.session(python=PYTHON)
def bench(session: nox.Session) -> None:
    """The write-throughput benchmarks (``nox -s bench -- --quick`` for a short run)."""
    _install(session, "bench", extras="web,postgres")
    session.run("python", "-m", "benchmarks", *session.posargs)


@nox.session(python=PYTHON)
def demo(session: nox.Session) -> None:
    """The demo machine app on http://127.0.0.1:8000, stored in ``machine.db``."""
    _install(session, extras="web")
    session.run("python", "examples/machine_app.py", *session.posargs)
