"""A real redis-server on a free local port, for the tests and the benchmark of shared state."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time

import redis

MISSING = ("redis-server is needed for the tests of shared state (REDIS_URL) and was not found: install it "
           "(apt-get install redis-server, brew install redis) or set REDIS_SERVER=/path/to/redis-server.")


class RedisServer:
    def __init__(self) -> None:
        self.binary = os.environ.get("REDIS_SERVER") or shutil.which("redis-server")
        if not self.binary or not os.path.exists(self.binary):
            raise FileNotFoundError(MISSING)
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self._dir = tempfile.mkdtemp(prefix="redis-")
        self._process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> "RedisServer":
        """Start (again) on the same port, empty."""
        self._process = subprocess.Popen(
            [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", self._dir], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        client = redis.Redis(port=self.port, socket_timeout=0.5, socket_connect_timeout=0.5)
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                return self
            except redis.ConnectionError:
                if self._process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"redis-server did not start on port {self.port}")
                time.sleep(0.02)
            finally:
                client.close()

    def stop(self) -> None:
        if self._process is not None:
            self.thaw()
            self._process.kill()
            self._process.wait(10)
            self._process = None

    def freeze(self) -> None:
        """Redis hangs: connections are accepted, nothing is answered."""
        self._process.send_signal(signal.SIGSTOP)

    def thaw(self) -> None:
        if self._process is not None:
            self._process.send_signal(signal.SIGCONT)
