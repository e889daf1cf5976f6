"""Processes the tests and benchmarks start on this machine: a throwaway PostgreSQL cluster
(Debian's server binaries; ``make test`` installs the ``postgresql`` package where missing)
and any server run in its own process group with its output in a log file.

Failures raise ``ServiceError`` with the logs (benchmarks use these too, outside pytest)."""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path

import psycopg2

from .helpers import stop_process_group
from .serving import free_port

PG_USER, PG_PASSWORD, PG_DB = "dagster", "not-a-secret", "dagster"


class ServiceError(RuntimeError):
    """A process did not start or stopped: the message holds its log."""


@dataclass
class Service:
    name: str
    process: subprocess.Popen
    log: Path

    def log_tail(self, chars: int = 4000) -> str:
        return f"--- {self.name} ({self.log}) ---\n" + self.log.read_text(errors="replace")[-chars:]

    def check_alive(self) -> None:
        if self.process.poll() is not None:
            raise ServiceError(f"{self.name} exited with {self.process.returncode}:\n{self.log_tail()}")


def start_service(name: str, args: list[str], log: Path, **popen) -> Service:
    """``args`` in its own process group (so its children stop with it), output to ``log``."""
    # A SIGINT ignored here (pytest started from a background job of a script) would be
    # inherited and the child could not be interrupted; a handled one is reset on exec.
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with log.open("wb") as out:
            process = subprocess.Popen(
                args, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True, **popen
            )
    finally:
        signal.signal(signal.SIGINT, previous)
    return Service(name, process, log)


def wait_until(what: str, ready: Callable[[], bool], services: list[Service], timeout: float) -> None:
    """Until ``ready()`` is true; raises with the services' logs if one exits or time runs out."""
    deadline = time.monotonic() + timeout
    while not ready():
        for service in services:
            service.check_alive()
        if time.monotonic() > deadline:
            raise ServiceError(f"{what} not ready after {timeout:.0f} s:\n" + "\n".join(s.log_tail() for s in services))
        time.sleep(0.5)


@dataclass
class Postgres:
    port: int
    service: Service
    user: str = PG_USER
    password: str = PG_PASSWORD

    def dsn(self, dbname: str = PG_DB) -> str:
        return f"postgresql://{self.user}:{self.password}@127.0.0.1:{self.port}/{dbname}"

    def connect(self, dbname: str = PG_DB):
        return psycopg2.connect(host="127.0.0.1", port=self.port, user=self.user, password=self.password, dbname=dbname, connect_timeout=5)

    def query(self, sql: str, *params, dbname: str = PG_DB) -> list[tuple]:
        with closing(self.connect(dbname)) as connection, connection.cursor() as cursor:
            cursor.execute(sql, params or None)  # (no parameters: '%' is not a placeholder)
            return cursor.fetchall()

    def execute(self, sql: str, *params, dbname: str = PG_DB) -> None:
        """One statement in its own committed transaction (autocommit: CREATE DATABASE too)."""
        with closing(self.connect(dbname)) as connection:
            connection.autocommit = True
            with connection.cursor() as cursor:
                cursor.execute(sql, params or None)  # (no parameters: '%' is not a placeholder)


def postgres_binaries() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[-3]))
    if not found:
        raise ServiceError(
            "PostgreSQL's server binaries (/usr/lib/postgresql/*/bin/initdb) are missing: "
            "`make test` installs Debian's postgresql package where missing (or: apt-get install postgresql)"
        )
    return Path(found[-1]).parent


@contextmanager
def throwaway_postgres(settings: dict[str, str] | None = None) -> Iterator[Postgres]:
    """A cluster on 127.0.0.1 and a free port with a database ``PG_DB``, password
    authentication over TCP, no Unix socket, fsync off (nothing here has to survive a
    crash), server ``settings`` added; removed at the end.

    initdb refuses to run as root: as root, the server runs as Debian's ``postgres`` user, in a
    folder made for it under the system's temporary directory (pytest's own is root-only)."""
    binaries = postgres_binaries()
    as_user = {}
    base = Path(tempfile.mkdtemp(prefix="sentiment-pg-"))
    if os.geteuid() == 0:
        try:
            owner = pwd.getpwnam("postgres")
        except KeyError as error:
            raise ServiceError(
                "running as root, and there is no postgres user to run PostgreSQL as (Debian's postgresql package creates it)"
            ) from error
        os.chown(base, owner.pw_uid, owner.pw_gid)
        as_user = {"user": owner.pw_uid, "group": owner.pw_gid, "extra_groups": []}
    try:
        password_file = base / "password"
        password_file.write_text(PG_PASSWORD + "\n")
        if as_user:
            os.chown(password_file, as_user["user"], as_user["group"])
        initdb = subprocess.run(
            [
                str(binaries / "initdb"),
                "--pgdata",
                str(base / "data"),
                "--username",
                PG_USER,
                f"--pwfile={password_file}",
                "--auth-host=scram-sha-256",
                "--auth-local=reject",
                "--encoding=UTF8",
                "--no-sync",
            ],
            cwd=base,
            capture_output=True,
            text=True,
            timeout=120,
            **as_user,
        )
        if initdb.returncode != 0:
            raise ServiceError(f"initdb failed ({initdb.returncode}):\n{initdb.stdout}\n{initdb.stderr}")
        port = free_port()
        options = [arg for key, value in {"fsync": "off", **(settings or {})}.items() for arg in ("-c", f"{key}={value}")]
        server = start_service(
            "postgres",
            [str(binaries / "postgres"), "-D", str(base / "data"), "-h", "127.0.0.1", "-p", str(port), "-k", "", *options],
            base / "postgres.log",
            cwd=base,
            **as_user,
        )
        pg = Postgres(port, server)
        try:

            def accepts() -> bool:
                try:
                    pg.connect("postgres").close()
                except psycopg2.OperationalError:
                    return False
                return True

            wait_until("PostgreSQL", accepts, [server], timeout=60)
            pg.execute(f"CREATE DATABASE {PG_DB}", dbname="postgres")  # (not in a transaction)
            yield pg
        finally:
            stop_process_group(server.process)
    finally:
        shutil.rmtree(base, ignore_errors=True)
