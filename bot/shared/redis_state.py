"""Several instances: the state they must agree on lives in Redis (`REDIS_URL`).

- Events taken: one key per event id and per message, set only if absent, with a time to live (an hour),
  so one instance answers each event, whichever instance Slack's redeliveries reach.
- Slack's budgets: one hash per budget (a method, or a method in a channel) holding its tokens, when it was
  last spent, any Retry-After pause, the last lesson a 429 taught, the calls in flight and what each instance
  wants of it. Server-side scripts refill and spend atomically on Redis's clock, so two instances never both
  spend the last token; no more calls of a budget are in flight across instances than one allows; a 429
  one instance hears pauses them all and teaches them all; and four times a second each instance tells what
  it wants of each workspace budget and learns what it holds (`follow`). Each instance keeps its own queues
  and priorities (see `bot.slack.pacing`); Redis holds what they all spend.
- Answers in flight per person: a sorted set of leases per person, each expiring a short while after its
  instance last renewed it (every third of that while), so an instance that dies frees its count.

Redis is asked with a short timeout and never retried inside a call: when it does not answer, this instance
answers from a `LocalState` of its own, logs one warning a minute, and asks Redis again a second later
(one caller at a time); the first answer ends the fallback.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from typing import Callable, Mapping, Sequence, TypeVar

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from bot import metrics
from bot.shared.base import (NOTHING_SHARED, PROBE_QUIET_SECONDS, SLOW_CALL_SECONDS, Bucket, Held, Lease, Lesson,
                             SharedState, Taken)
from bot.shared.local import EVENT_MEMORY, LocalState

log = logging.getLogger(__name__)

T = TypeVar("T")

RETRY_EVERY = 1.0  # seconds between two tries of a Redis that did not answer
WARN_EVERY = 60.0  # seconds between two warnings that Redis does not answer
FOLLOW_EVERY = 0.25  # seconds between two exchanges of what the instances want of the budgets and what they hold
BUDGET_MEMORY_MS = 600_000  # a budget no one spent for ten minutes is forgotten (it starts full again)

# Every script that reads the time begins with this: Redis's clock (the same for every instance), in seconds
# and in milliseconds, and a budget's tokens now.
_CLOCK = """
redis.replicate_commands()
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local now_ms = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
-- what a budget held when last spent (`held`, at `updated`), refilled at `rate` since (a pause stops the
-- spending, not Slack's refill: see bot.slack.pacing.bucket)
local function refilled(held, updated, paused, rate, burst)
  local tokens = tonumber(held)
  if tokens == nil then return burst end
  local from = tonumber(updated) or now
  if now > from then tokens = tokens + (now - from) * rate end
  return math.min(tokens, burst)
end
"""

# KEYS: the event's keys. ARGV: time to live (ms), who claims. 1 if none existed (all are set), else 0.
_CLAIM = """
for _, key in ipairs(KEYS) do
  if redis.call('EXISTS', key) == 1 then return 0 end
end
for _, key in ipairs(KEYS) do
  redis.call('SET', key, ARGV[2], 'PX', ARGV[1])
end
return 1
"""

# KEYS: one hash per budget. ARGV: probe (1/0), probe seconds, memory (ms), the call (who asks, and which of
# its calls), how long a call may hold a place in flight (seconds), then for each budget: its pace
# (calls a second, "" for none), its burst, the tokens the call needs, the calls that may be in flight with it
# (its own place among them; each in flight is a field 'fly:<call>' holding when it stops counting). Returns
# the seconds to wait ("0" if a
# token was spent in every budget that has a pace), then for each budget its tokens ("" without a pace) and
# the seconds its pause has yet to run, its last lesson (number, pace, burst; "" for none) and the calls every
# instance has been granted from it ("" without a pace); all as text (Lua numbers would be truncated).
_TAKE = _CLOCK + """
local probe = ARGV[1] == '1'
local me = string.match(ARGV[4], '^(.*):[^:]*$')  -- the instance
local wait = 0
local spend = {}
local seen = {}
for i, key in ipairs(KEYS) do
  local at = 2 + 4 * i
  local rate, burst, needs, places = tonumber(ARGV[at]), tonumber(ARGV[at + 1]), tonumber(ARGV[at + 2]),
                                     tonumber(ARGV[at + 3])
  local h = redis.call('HMGET', key, 'tokens', 'updated', 'paused_until', 'probing_until', 'quiet_until',
                      'lesson', 'lesson_rate', 'lesson_burst', 'granted', 'probe_by')
  local paused = tonumber(h[3]) or 0
  if paused > now then wait = math.max(wait, paused - now) end
  seen[i] = {'', tostring(math.max(paused - now, 0)), h[6] or '', h[7] or '', h[8] or '', ''}
  if rate and rate > 0 then
    local flying = 0
    local fields = redis.call('HGETALL', key)
    for j = 1, #fields, 2 do
      if string.sub(fields[j], 1, 4) == 'fly:' then
        if (tonumber(fields[j + 1]) or 0) <= now then
          redis.call('HDEL', key, fields[j])  -- a call that never told its answer counts no longer
        elseif fields[j] ~= 'fly:' .. ARGV[4] then
          flying = flying + 1
        end
      end
    end
    if flying >= places then
      wait = math.max(wait, 0.02)  -- as many calls of this budget are in flight as may be: the next answer frees one
    end
    local tokens = refilled(h[1], h[2], paused, rate, burst)
    local probing = false
    if tokens < needs then
      if probe and ((tonumber(h[4]) or 0) <= now or h[10] == me) and (tonumber(h[5]) or 0) <= now then
        probing = true
      else
        wait = math.max(wait, (needs - tokens) / rate)
      end
    end
    spend[#spend + 1] = {key, tokens, probing, i}
    seen[i][1] = tostring(tokens)
    seen[i][6] = h[9] or '0'
  end
end
local answer = {tostring(wait)}
if wait == 0 then
  for _, s in ipairs(spend) do
    if s[3] then  -- a probe goes beyond the bucket: it spends nothing, and holds off other instances' probes
      redis.call('HSET', s[1], 'tokens', tostring(s[2]), 'updated', tostring(now),
                 'probing_until', tostring(now + tonumber(ARGV[2])), 'probe_by', me)
    else
      redis.call('HSET', s[1], 'tokens', tostring(s[2] - 1), 'updated', tostring(now))
      seen[s[4]][1] = tostring(s[2] - 1)
    end
    seen[s[4]][6] = tostring(redis.call('HINCRBY', s[1], 'granted', 1))
    redis.call('HSET', s[1], 'fly:' .. ARGV[4], tostring(now + tonumber(ARGV[5])))
    redis.call('PEXPIRE', s[1], ARGV[3])
  end
end
for i = 1, #KEYS do
  for j = 1, 6 do answer[#answer + 1] = seen[i][j] end
end
return answer
"""

# KEYS: one hash per budget. ARGV: Retry-After (seconds), quiet seconds (no probing), memory (ms), the call
# refused, then for each budget the pace ("" for none) and burst it now knows (the next lesson), and the
# tokens it holds now (what the refused instance reckons Slack's bucket holds: `pacing.learning`). The
# refused call is no longer in flight.
_PAUSE = _CLOCK + """
local until_ = now + tonumber(ARGV[1])
for i, key in ipairs(KEYS) do
  local h = redis.call('HMGET', key, 'tokens', 'paused_until')
  local rate, burst, left = ARGV[2 + 3 * i], ARGV[3 + 3 * i], tonumber(ARGV[4 + 3 * i])
  if rate ~= '' then
    redis.call('HSET', key, 'lesson_rate', rate, 'lesson_burst', burst)
    redis.call('HINCRBY', key, 'lesson', 1)
  end
  redis.call('HDEL', key, 'fly:' .. ARGV[4])
  redis.call('HSET', key, 'paused_until', tostring(math.max(tonumber(h[2]) or 0, until_)),
             'tokens', tostring(math.min(tonumber(h[1]) or left, left)), 'updated', tostring(now))
  redis.call('HSET', key, 'quiet_until', tostring(now + tonumber(ARGV[2])))
  redis.call('PEXPIRE', key, math.max(tonumber(ARGV[3]), math.ceil(tonumber(ARGV[1]) * 1000) + 60000))
end
return 1
"""

# KEYS: budgets whose call was answered. ARGV: the call. Its place in flight is free, and, if its instance was
# probing the budget, other instances may probe it.
_ANSWERED = """
local me = string.match(ARGV[1], '^(.*):[^:]*$')
for _, key in ipairs(KEYS) do
  redis.call('HDEL', key, 'fly:' .. ARGV[1])
  if redis.call('HGET', key, 'probe_by') == me then redis.call('HDEL', key, 'probe_by', 'probing_until') end
end
return 1
"""

# KEYS: budgets. ARGV: who asks, for each budget its pace ("" for none), burst and the calls this instance
# wants of it. Records what it wants; returns for each budget its tokens ("" without a pace), the seconds its
# pause has yet to run, what the other instances want of it and how many they are (those that told within
# the last two seconds).
_FOLLOW = _CLOCK + """
local answer = {}
for i, key in ipairs(KEYS) do
  local rate, burst, wants = tonumber(ARGV[3 * i - 1]), tonumber(ARGV[3 * i]), ARGV[3 * i + 1]
  redis.call('HSET', key, 'want:' .. ARGV[1], wants .. '@' .. tostring(now))
  local h = redis.call('HMGET', key, 'tokens', 'updated', 'paused_until')
  local paused = tonumber(h[3]) or 0
  local tokens = ''
  if rate and rate > 0 then
    tokens = tostring(refilled(h[1], h[2], paused, rate, burst))
  end
  local others, peers = 0, 0
  local fields = redis.call('HGETALL', key)
  for j = 1, #fields, 2 do
    local who = string.match(fields[j], '^want:(.*)$')
    if who and who ~= ARGV[1] then
      local count, at = string.match(fields[j + 1], '^([^@]*)@(.*)$')
      if tonumber(at) and now - tonumber(at) < 2 then
        others = others + (tonumber(count) or 0)
        peers = peers + 1
      elseif tonumber(at) == nil or now - tonumber(at) > 60 then
        redis.call('HDEL', key, fields[j])
      end
    end
  end
  redis.call('PEXPIRE', key, 600000)
  answer[#answer + 1] = tokens
  answer[#answer + 1] = tostring(math.max(paused - now, 0))
  answer[#answer + 1] = tostring(others)
  answer[#answer + 1] = tostring(peers)
end
return answer
"""

# KEYS[1]: the person's leases. ARGV: the lease, the limit, its time to live (ms). 1 if taken, else 0.
_LEASE = _CLOCK + """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now_ms)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then return 0 end
redis.call('ZADD', KEYS[1], now_ms + tonumber(ARGV[3]), ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return 1
"""

# KEYS: leases' sets; ARGV: time to live (ms), then each lease. Pushes back the expiry of those still held.
_RENEW = _CLOCK + """
for i, key in ipairs(KEYS) do
  redis.call('ZADD', key, 'XX', now_ms + tonumber(ARGV[1]), ARGV[i + 1])
  redis.call('PEXPIRE', key, ARGV[1])
end
return 1
"""


class RedisState(SharedState):
    def __init__(self, url: str, *, prefix: str = "bedrock-slack-bot", timeout: float = 0.25,
                 lease_seconds: float = 30.0, clock: Callable[[], float] = time.monotonic) -> None:
        self._redis = redis.Redis.from_url(
            url, socket_timeout=timeout, socket_connect_timeout=timeout,
            retry=Retry(NoBackoff(), 0), retry_on_timeout=False,  # a slow Redis means local state, not waiting
            health_check_interval=30, client_name="bedrock-slack-bot")
        self._where = self.where(self._redis)
        self._prefix = prefix
        self._lease_ms = int(lease_seconds * 1000)
        self._clock = clock
        self._local = LocalState(clock)  # the fallback; it also remembers every event this instance saw
        self._me = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._claim = self._redis.register_script(_CLAIM)
        self._take = self._redis.register_script(_TAKE)
        self._pause = self._redis.register_script(_PAUSE)
        self._answered_in = self._redis.register_script(_ANSWERED)
        self._follow = self._redis.register_script(_FOLLOW)
        self._lease = self._redis.register_script(_LEASE)
        self._renew = self._redis.register_script(_RENEW)
        self._lock = threading.Lock()
        self._down_since: float | None = None  # when Redis stopped answering (None: it answers)
        self._down_why = ""
        self._try_at = 0.0  # while down: when to try Redis again
        self._warned_at = -WARN_EVERY
        self._leases: set[_RedisLease] = set()
        self._closed = threading.Event()
        metrics.SHARED_STATE_UP.set(1)
        if self._ask(self._redis.ping) is not None:
            log.info("sharing state with other instances through Redis at %s (keys %s:*)", self._where, prefix)
        threading.Thread(target=self._renew_leases, name="redis-leases", daemon=True).start()

    # -- SharedState ------------------------------------------------------------------------------

    def claim(self, keys: Sequence[str]) -> bool:
        first_here = self._local.claim(keys)
        shared = self._ask(lambda: self._claim(keys=[self._key("event", key) for key in keys],
                                              args=[int(EVENT_MEMORY * 1000), self._me]))
        return first_here if shared is None else bool(shared) and first_here

    def take(self, buckets: Sequence[Bucket], probe: bool = False, call: str = "") -> Taken:
        if not buckets:
            return NOTHING_SHARED
        args = [1 if probe else 0, SLOW_CALL_SECONDS, BUDGET_MEMORY_MS, f"{self._me}:{call}", SLOW_CALL_SECONDS,
                *_each(buckets, "needs", "places")]
        answer = self._ask(lambda: self._take(keys=[self._key("budget", b.name) for b in buckets], args=args))
        if answer is None:
            return NOTHING_SHARED
        wait, *seen = [value.decode() for value in answer]
        each = [seen[at:at + 6] for at in range(0, len(seen), 6)]
        return Taken(float(wait), tuple(float(tokens) if tokens else None for tokens, *_ in each),
                     tuple(float(paused) for _, paused, *_ in each),
                     tuple(Lesson(int(number), float(rate), float(burst)) if number else None
                           for _, _, number, rate, burst, _ in each),
                     tuple(int(granted) if granted else None for *_, granted in each))

    def pause(self, buckets: Sequence[Bucket], seconds: float, call: str = "") -> None:
        if not buckets:
            return
        args: list[str | float | int] = [repr(seconds), PROBE_QUIET_SECONDS, BUDGET_MEMORY_MS, f"{self._me}:{call}",
                                         *_each(buckets, "tokens")]
        self._ask(lambda: self._pause(keys=[self._key("budget", bucket.name) for bucket in buckets], args=args))

    def follow(self, wants: Callable[[], Sequence[Bucket]], learn: Callable[[Mapping[str, Held]], None]) -> None:
        def run() -> None:
            while not self._closed.wait(FOLLOW_EVERY):
                buckets = list(wants())
                if buckets:
                    self._tell(buckets, learn)

        threading.Thread(target=run, name="redis-budgets", daemon=True).start()

    def _tell(self, buckets: Sequence[Bucket], learn: Callable[[Mapping[str, Held]], None]) -> None:
        args = [self._me, *_each(buckets, "needs")]
        answer = self._ask(lambda: self._follow(keys=[self._key("budget", b.name) for b in buckets], args=args))
        if answer is None:  # on its own: nobody else's wants count
            learn({bucket.name: Held(None, 0.0, 0.0) for bucket in buckets})
            return
        values = [value.decode() for value in answer]
        learn({bucket.name: Held(float(tokens) if tokens else None, float(paused), float(want), int(others))
               for bucket, (tokens, paused, want, others) in zip(buckets, zip(*[iter(values)] * 4))})

    def answered(self, names: Sequence[str], call: str = "") -> None:
        if names:
            self._ask(lambda: self._answered_in(keys=[self._key("budget", name) for name in names],
                                                args=[f"{self._me}:{call}"]))

    def lease(self, holder: str, limit: int) -> Lease | None:
        lease = _RedisLease(self, self._key("replies", holder), f"{self._me}:{uuid.uuid4().hex[:12]}")
        taken = self._ask(lambda: self._lease(keys=[lease.key], args=[lease.member, limit, self._lease_ms]))
        if taken is None:  # Redis did not answer: this instance counts on its own
            return self._local.lease(holder, limit)
        if not taken:
            return None
        with self._lock:
            self._leases.add(lease)
        return lease

    def put(self, key: str, value: str, seconds: float) -> None:
        self._local.put(key, value, seconds)
        self._ask(lambda: self._redis.set(self._key("kept", key), value, px=max(int(seconds * 1000), 1)))

    def add(self, key: str, amount: int, seconds: float) -> int:
        local = self._local.add(key, amount, seconds)

        def count() -> int:
            pipe = self._redis.pipeline()
            name = self._key("count", key)
            pipe.set(name, 0, px=max(int(seconds * 1000), 1), nx=True)  # the count's life starts with it
            pipe.incrby(name, amount)
            return pipe.execute()[1]

        shared = self._ask(count)
        return local if shared is None else int(shared)

    def get(self, key: str) -> str | None:
        shared = self._ask(lambda: self._redis.get(self._key("kept", key)))
        if shared is not None:
            return shared.decode() if isinstance(shared, bytes) else str(shared)
        return self._local.get(key)

    @property
    def status(self) -> str:
        with self._lock:
            if self._down_since is None:
                return "redis"
            return f"local: Redis at {self._where} has not answered for {self._clock() - self._down_since:.0f} s " \
                   f"({self._down_why})"

    def close(self) -> None:
        self._closed.set()

    @staticmethod
    def where(client: redis.Redis) -> str:
        """Redis's address for the log, without any password."""
        kwargs = client.connection_pool.connection_kwargs
        if "path" in kwargs:
            return str(kwargs["path"])
        return f"{kwargs.get('host', '?')}:{kwargs.get('port', '?')}/{kwargs.get('db', 0)}"

    # -- internals --------------------------------------------------------------------------------

    def _key(self, kind: str, name: str) -> str:
        return f"{self._prefix}:{kind}:{name}"

    def _ask(self, command: Callable[[], T]) -> T | None:
        """What Redis answered, or None if it is down (then the caller uses this instance's own state)."""
        now = self._clock()
        with self._lock:
            if self._down_since is not None:
                if now < self._try_at:
                    return None
                self._try_at = now + RETRY_EVERY  # this caller tries; the others keep to local state meanwhile
        try:
            answer = command()
        except (redis.RedisError, OSError) as error:
            self._went_down(error, now)
            return None
        self._answered()
        return answer

    def _went_down(self, error: BaseException, now: float) -> None:
        with self._lock:
            first = self._down_since is None
            if first:
                self._down_since = now
                metrics.SHARED_STATE_FALLBACKS.inc()
                metrics.SHARED_STATE_UP.set(0)
            self._down_why = f"{type(error).__name__}: {error}"
            self._try_at = now + RETRY_EVERY
            warn = now - self._warned_at >= WARN_EVERY
            if warn:
                self._warned_at = now
        if warn:
            log.warning("Redis at %s does not answer (%s): this instance keeps its own state (events, Slack "
                        "budgets, answers per person) until it does; other instances may answer a redelivery "
                        "again or spend the same budget", self._where, self._down_why)

    def _answered(self) -> None:
        with self._lock:
            was_down, self._down_since = self._down_since, None
        if was_down is not None:
            metrics.SHARED_STATE_UP.set(1)
            log.warning("Redis at %s answers again after %.0f s: instances share their state again",
                        self._where, self._clock() - was_down)

    def _renew_leases(self) -> None:
        while not self._closed.wait(self._lease_ms / 3000):
            with self._lock:
                held = list(self._leases)
            if held:
                self._ask(lambda: self._renew(keys=[lease.key for lease in held],
                                              args=[self._lease_ms] + [lease.member for lease in held]))

    def _released(self, lease: "_RedisLease") -> None:
        with self._lock:
            self._leases.discard(lease)
        self._ask(lambda: self._redis.zrem(lease.key, lease.member))  # if Redis is down, the lease expires


def _each(buckets: Sequence[Bucket], *also: str) -> list[str]:
    """The scripts' arguments for each bucket: its pace ("" for none), its burst, and what else the script
    reads of it (`also`: "needs", the tokens the call needs; "places", the calls that may be in flight with
    it; "tokens", the tokens it holds)."""
    args = []
    for bucket in buckets:
        args += ["" if bucket.per_second is None else repr(bucket.per_second), repr(bucket.burst)]
        args += [repr(getattr(bucket, name)) for name in also]
    return args


class _RedisLease(Lease):
    def __init__(self, state: RedisState, key: str, member: str) -> None:
        self._state = state
        self.key = key
        self.member = member
        self._released = False

    def release(self) -> None:
        if not self._released:
            self._released = True
            self._state._released(self)
