"""Developer and CI sessions. Run through ``./dev test`` (which installs everything first).

Every session runs inside the workspace environment that ``uv sync --frozen`` built, so nox creates no
virtualenvs of its own except for the wheel check, which must prove each wheel installs alone.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import nox

nox.options.default_venv_backend = "none"
nox.options.sessions = ["lint", "typecheck", "imports", "tests", "wheels"]
nox.options.error_on_missing_interpreters = True

ROOT = Path(__file__).parent
PACKAGES = {
    "brokkr-domain": "brokkr_domain",
    "brokkr-adapters-postgres": "brokkr_adapters_postgres",
    "brokkr-adapters-k8s": "brokkr_adapters_k8s",
    "brokkr-broker-app": "brokkr_broker_app",
    "brokkr-agent-app": "brokkr_agent_app",
}
# Imports every module of a package except its test helpers (which need the test extras) and Alembic's
# migration scripts (which only run inside Alembic).
IMPORT_ALL = (
    "import importlib, pkgutil, {module} as p; "
    "names = [m.name for m in pkgutil.walk_packages(p.__path__, '{module}.') if '.testing' not in m.name and '.migrations' not in m.name]; "
    "[importlib.import_module(n) for n in names]; print('{module}: %d modules import alone' % len(names))"
)
# Libraries that must never be loaded by ``import brokkr_domain``.
DOMAIN_FORBIDDEN = ["sqlalchemy", "psycopg", "kubernetes", "httpx", "starlette", "cryptography", "urllib3"]


@nox.session(python=False)
def lint(session: nox.Session) -> None:
    """ruff lint and format check over the whole tree."""
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session(python=False)
def typecheck(session: nox.Session) -> None:
    """mypy --strict on every package's src."""
    for dist in PACKAGES:
        session.run("mypy", "--strict", f"packages/{dist}/src")


@nox.session(python=False)
def imports(session: nox.Session) -> None:
    """The dependency rule of ARCHITECTURE.md, as import-linter contracts."""
    session.run("lint-imports", "--no-cache")


@nox.session(python=False)
@nox.parametrize("package", [*PACKAGES, "cross-package"])
def tests(session: nox.Session, package: str) -> None:
    """One package's test suite (or the cross-package suite in ``tests/``)."""
    path = "tests" if package == "cross-package" else f"packages/{package}/tests"
    if not any(Path(path).rglob("test_*.py")):
        session.skip(f"{path} holds no tests yet")
    session.run("pytest", path, *session.posargs)


@nox.session(python=False)
def wheels(session: nox.Session) -> None:
    """Build every wheel, install each alone into an empty venv, and import it there."""
    out = Path(tempfile.mkdtemp(prefix="brokkr-wheels-"))
    for dist in PACKAGES:
        session.run("uv", "build", "--wheel", "--package", dist, "--out-dir", str(out), "--quiet")
    for dist, module in PACKAGES.items():
        venv = out / f"venv-{dist}"
        session.run("uv", "venv", "--quiet", "--python", sys.executable, str(venv))
        py = str(venv / "bin" / "python")
        wheel = next(out.glob(f"{dist.replace('-', '_')}-*.whl"))
        # Workspace siblings come from the wheels just built; everything else from the index.
        session.run("uv", "pip", "install", "--quiet", "--python", py, "--find-links", str(out), str(wheel))
        session.run(py, "-c", IMPORT_ALL.format(module=module))
    probe = (
        "import sys, brokkr_domain, brokkr_domain.usecases.agents, brokkr_domain.agent; "
        f"bad = [m for m in {DOMAIN_FORBIDDEN!r} if m in sys.modules]; "
        "assert not bad, f'brokkr_domain loaded I/O libraries: {bad}'; print('domain loads no I/O library')"
    )
    session.run(str(out / "venv-brokkr-domain" / "bin" / "python"), "-c", probe)
