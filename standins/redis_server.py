"""A real redis-server on a free local port, for the tests and the benchmark of shared state.

    server = RedisServer().start()   # answers PING on server.url (redis://127.0.0.1:PORT/0), no persistence
    server.stop()                    # gone: connection refused
    server.start()                   # back on the same port (empty), so a client configured with the URL reconnects
    server.freeze(); server.thaw()   # hung (SIGSTOP): connections are accepted, nothing is answered; then answers
    server.pause(0.5)                # hung for half a second, without waiting for it
    server.flush()                   # empty

The binary is `REDIS_SERVER` if that is set, else `redis-server` on PATH; a missing one raises
FileNotFoundError with what to install.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import redis

MISSING = ("redis-server is needed for the tests of shared state (REDIS_URL) and was not found: install it "
           "(apt-get install redis-server, brew install redis), put it on PATH, or set "
           "REDIS_SERVER=/path/to/redis-server.")


def find_binary() -> str:
    """The redis-server to run: `REDIS_SERVER` if set, else the one on PATH; FileNotFoundError if neither."""
    chosen = os.environ.get("REDIS_SERVER")
    if chosen:
        if os.path.isfile(chosen) and os.access(chosen, os.X_OK):
            return chosen
        raise FileNotFoundError(f"REDIS_SERVER={chosen} is not an executable file. {MISSING}")
    found = shutil.which("redis-server")
    if not found:
        raise FileNotFoundError(MISSING)
    return found


class RedisServer:
    def __init__(self) -> None:
        self.binary = find_binary()
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port: int = probe.getsockname()[1]
        self._dir = tempfile.TemporaryDirectory(prefix="redis-")  # removed when this object goes
        self._process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def client(self, **options) -> redis.Redis:
        """A client of this server (close it when done)."""
        return redis.Redis.from_url(self.url, **options)

    def start(self, timeout: float = 10.0) -> "RedisServer":
        """Start (again) on the same port, empty, and return once it answers PING."""
        if self.running:
            return self
        log = Path(self._dir.name) / "redis.log"
        with open(log, "wb") as out:
            self._process = subprocess.Popen(
                [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                 "--dir", self._dir.name], stdout=out, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        with self.client(socket_timeout=0.5, socket_connect_timeout=0.5) as client:
            while True:
                try:
                    client.ping()
                    return self
                except redis.ConnectionError:
                    if self._process.poll() is not None or time.monotonic() > deadline:
                        self.stop()
                        said = log.read_text(errors="replace").strip().splitlines()[-5:]
                        raise RuntimeError(f"redis-server ({self.binary}) did not start on port {self.port}: "
                                           + (" / ".join(said) or "it said nothing"))
                    time.sleep(0.02)

    def stop(self) -> None:
        """Kill it (SIGKILL, even while frozen) and wait until it is gone: connections are refused from now on."""
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGCONT)
            process.kill()
        if process is not None:
            process.wait(10)

    def freeze(self) -> None:
        """Redis hangs (SIGSTOP): connections are accepted, nothing is answered until `thaw`."""
        if not self.running:
            raise RuntimeError("redis-server is not running")
        self._process.send_signal(signal.SIGSTOP)

    def thaw(self) -> None:
        """Redis answers again (SIGCONT), what it was asked while frozen first."""
        if self.running:
            self._process.send_signal(signal.SIGCONT)

    def pause(self, seconds: float) -> threading.Timer:
        """Freeze now and thaw `seconds` later, without waiting: a slow Redis. Returns the timer that thaws."""
        self.freeze()
        timer = threading.Timer(seconds, self.thaw)
        timer.daemon = True
        timer.start()
        return timer

    def flush(self) -> None:
        """Empty every database."""
        with self.client(socket_timeout=2) as client:
            client.flushall()

    def __enter__(self) -> "RedisServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
