"""The real redis-server the tests of shared state run (standins/redis_server.py): it starts and answers,
stops (connection refused), starts again on the same URL, hangs and recovers, and empties; without the
binary, the error says what to install."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import redis

from standins.redis_server import MISSING, RedisServer

ROOT = Path(__file__).resolve().parents[2]


def client(url: str) -> redis.Redis:
    return redis.Redis.from_url(url, socket_timeout=0.2, socket_connect_timeout=0.2, retry_on_timeout=False)


def test_the_fixture_starts_a_server_that_answers(redis_server):
    assert redis_server.url == f"redis://127.0.0.1:{redis_server.port}/0"
    with client(redis_server.url) as one:
        assert one.ping() is True
        one.set("key", "value")
        assert one.get("key") == b"value"
        assert one.config_get("save") == {"save": ""} and one.config_get("appendonly") == {"appendonly": "no"}


def test_stopped_it_refuses_connections_and_started_again_it_answers_on_the_same_url(redis_server):
    url = redis_server.url
    with client(url) as one:
        one.set("key", "value")
        redis_server.stop()
        with pytest.raises(redis.ConnectionError):
            one.ping()
        redis_server.start()
        assert redis_server.url == url
        assert one.ping() is True  # the same client reconnects
        assert one.get("key") is None  # nothing was kept


def test_frozen_it_times_out_and_thawed_it_answers(redis_server):
    with client(redis_server.url) as one:
        assert one.ping() is True
        redis_server.freeze()
        began = time.monotonic()
        with pytest.raises(redis.TimeoutError):
            one.ping()
        assert time.monotonic() - began < 2
        redis_server.thaw()
    with client(redis_server.url) as other:
        assert other.ping() is True


def test_a_pause_hangs_it_for_that_long(redis_server):
    with client(redis_server.url) as one:
        redis_server.pause(0.5)
        with pytest.raises(redis.TimeoutError):
            one.ping()
    time.sleep(0.6)
    with client(redis_server.url) as other:
        assert other.ping() is True


def test_a_frozen_server_stops_at_once(redis_server):
    redis_server.freeze()
    began = time.monotonic()
    redis_server.stop()
    assert time.monotonic() - began < 2 and not redis_server.running
    with client(redis_server.url) as one, pytest.raises(redis.ConnectionError):
        one.ping()


def test_flush_empties_it(redis_server):
    with client(redis_server.url) as one:
        one.set("key", "value")
        redis_server.flush()
        assert one.dbsize() == 0


def test_without_the_binary_the_error_says_what_to_install(monkeypatch, tmp_path):
    monkeypatch.delenv("REDIS_SERVER", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))  # no redis-server here
    with pytest.raises(FileNotFoundError) as missing:
        RedisServer()
    assert str(missing.value) == MISSING
    for advice in ("apt-get install redis-server", "brew install redis", "PATH", "REDIS_SERVER="):
        assert advice in MISSING
    monkeypatch.setenv("REDIS_SERVER", str(tmp_path / "redis-server"))
    with pytest.raises(FileNotFoundError, match="REDIS_SERVER=.* is not an executable file"):
        RedisServer()


@pytest.mark.e2e  # runs pytest itself, as a process
def test_the_fixture_fails_and_never_skips_without_the_binary(tmp_path):
    (tmp_path / "conftest.py").write_text("from tests.conftest import redis_server  # noqa: F401\n")
    (tmp_path / "test_needs_redis.py").write_text("def test_needs_redis(redis_server):\n    pass\n")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "REDIS_SERVER": str(tmp_path / "no-redis-server")}
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rA", str(tmp_path)],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "1 error" in done.stdout and "skipped" not in done.stdout, done.stdout
    assert "redis-server is needed for the tests of shared state" in done.stdout, done.stdout
