"""Settings, read once at start from the environment (a `.env` file fills in what the environment lacks).

Every problem is collected before anything is reported, so one run names every missing or malformed
variable and where to get it. AWS credentials and region are not settings of ours: boto3 finds them
through its standard chain (AWS_REGION, AWS_PROFILE, AWS_ENDPOINT_URL_BEDROCK_RUNTIME, ...).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Callable, Mapping, TypeVar
from urllib.parse import urlparse

from bot import notes
from bot.conversation import files
from bot.model.caching import PROMPT_CACHE_CHOICES
from bot.slack.pacing import DEFAULT_LIMITS, Limit, MethodLimits

DEFAULT_MODEL_ID = "global.anthropic.claude-haiku-4-5-20251001-v1:0"
DEFAULT_SYSTEM_PROMPT = (
    "You are a helpful assistant answering in a Slack workspace. Answer clearly and concisely. "
    "Use Markdown sparingly: short paragraphs, lists and code blocks where they help."
)
SLACK_APPS_PAGE = "https://api.slack.com/apps"
SURFACES = ("auto", "stream", "edit")
FILE_KINDS = frozenset(files.FILE_KINDS)  # what FILES_READ may name
RETIRED = {  # settings that are no longer read → what replaces them
    "SLACK_EDITS_PER_MINUTE": "SLACK_RATE_LIMITS (for example chat.update=50/20)",
    "SLACK_EDIT_BURST": "SLACK_RATE_LIMITS (for example chat.update=50/20)",
    "SLACK_EDIT_INTERVAL_SECONDS": "SLACK_UPDATE_INTERVAL_SECONDS",
}

T = TypeVar("T")


class SettingsError(Exception):
    """The settings cannot be used; the message lists every problem and how to fix it."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        lines = "\n".join(f"  - {problem}" for problem in problems)
        super().__init__(
            "The bot cannot start: fix these settings in the environment or in .env "
            f"(see .env.example):\n{lines}"
        )


@dataclass(frozen=True)
class Settings:
    slack_bot_token: str
    slack_app_token: str
    slack_api_url: str = "https://slack.com/api/"
    slack_signing_secret: str = ""  # HTTP mode only
    http_host: str = "0.0.0.0"
    http_port: int = 3000
    model_id: str = DEFAULT_MODEL_ID
    system_prompt: str = DEFAULT_SYSTEM_PROMPT
    max_tokens: int = 2048
    temperature: float = 0.5
    prompt_cache: str = "auto"  # auto: on for the model families known to take cache points | on | off
    reply_surface: str = "auto"  # auto: native streams where possible | stream | edit
    update_interval: float = 0.3  # least time between two updates (edits or appends) of one message
    post_hold: float = 1.5  # while every edit is spoken for: how long each post may hold to carry more
    status: bool = True  # show "is thinking…" under the thread (else a placeholder message)
    status_text: str = notes.STATUS
    loading_messages: tuple[str, ...] = notes.LOADING_MESSAGES
    feedback_buttons: bool = True
    slack_limits: Mapping[str, MethodLimits] = field(default_factory=lambda: dict(DEFAULT_LIMITS))
    context_max_chars: int = 60_000
    context_read_seconds: float = 10.0  # reading a thread or a DM's history, all its calls and retries together
    name_lookup_seconds: float = 3.0  # looking up people's names for one reply, all of them together
    files_read: frozenset[str] = FILE_KINDS  # what kinds of shared file are read: images, documents, text
    file_max_mb: float = 4.5  # one file (images at most Bedrock's 3.75)
    files_max_mb: float = 10.0  # all the files of one reply together (held in memory while the model answers)
    files_read_seconds: float = 20.0  # downloading one reply's files, all of them together
    dm_history_messages: int = 20
    dm_history_hours: float = 24.0
    max_concurrent_replies: int = 32
    max_waiting_replies: int = 200  # questions beyond those, showing their sign of life while they wait
    log_level: str = "INFO"
    bedrock_read_timeout: float = 60.0
    bedrock_retry_attempts: int = 4
    bedrock_retry_seconds: float = 30.0
    bedrock_retry_base_seconds: float = 0.5
    slack_retry_attempts: int = 5
    slack_retry_seconds: float = 120.0
    reply_deadline: float = 300.0
    shutdown_grace: float = 20.0
    max_replies_per_user: int = 3
    max_message_chars: int = 20_000
    allowed_channels: frozenset[str] = frozenset()  # empty: every channel the bot is in
    allowed_users: frozenset[str] = frozenset()  # empty: everyone
    metrics_port: int | None = None  # a port of its own for /metrics (Socket Mode's only way to serve them)
    # Several instances: the state they share (events taken, Slack's budgets, answers per person); "" keeps
    # it in this process (one instance). See `bot.shared`.
    redis_url: str = ""
    redis_key_prefix: str = "bedrock-slack-bot"
    redis_timeout: float = 0.25  # the longest a reply waits on Redis before using this instance's own state
    redis_lease_seconds: float = 30.0  # an answer in flight counts for its person this long after its instance stops
    aws_region: str | None = None  # AWS_REGION; when unset boto3's own chain decides (AWS_DEFAULT_REGION, profile)

    def __repr__(self) -> str:  # never print a token, even by accident
        return f"Settings(model_id={self.model_id!r}, slack_api_url={self.slack_api_url!r}, ...)"

    @classmethod
    def from_env(cls, env: Mapping[str, str], *, mode: str = "socket") -> "Settings":
        """`mode`: "socket" (Socket Mode: needs the app token), "http" (Events API: needs the signing secret)
        or "chat" (the terminal: needs no Slack setting)."""
        reader = _Reader(env)
        values = dict(
            slack_bot_token=reader.token(
                "SLACK_BOT_TOKEN",
                "xoxb-",
                f'the Bot User OAuth Token (xoxb-...) on your app\'s "OAuth & Permissions" page, {SLACK_APPS_PAGE}',
                used=mode != "chat",
            ),
            slack_app_token=reader.token(
                "SLACK_APP_TOKEN",
                "xapp-",
                'an app-level token (xapp-...) with the connections:write scope, made under "Basic Information" '
                f'→ "App-Level Tokens", {SLACK_APPS_PAGE}',
                used=mode == "socket",
            ),
            slack_api_url=reader.url("SLACK_API_URL", cls.slack_api_url),
            slack_signing_secret=reader.secret(
                "SLACK_SIGNING_SECRET", required=mode == "http",
                where=f'the Signing Secret on your app\'s "Basic Information" page, {SLACK_APPS_PAGE}'),
            http_host=reader.text("HOST", cls.http_host),
            http_port=reader.number("PORT", int, cls.http_port, 0, 65_535),  # 0: any free port
            model_id=reader.text("BEDROCK_MODEL_ID", cls.model_id),
            system_prompt=reader.text("BEDROCK_SYSTEM_PROMPT", cls.system_prompt),
            max_tokens=reader.number("BEDROCK_MAX_TOKENS", int, cls.max_tokens, 1, 200_000),
            temperature=reader.number("BEDROCK_TEMPERATURE", float, cls.temperature, 0.0, 1.0),
            prompt_cache=reader.choice(
                "BEDROCK_PROMPT_CACHE", cls.prompt_cache, PROMPT_CACHE_CHOICES, upper=False,
                why="auto (on for the models known to take prompt caching), on (always send cache points) "
                    "or off (never)"),
            reply_surface=reader.choice("SLACK_REPLY_SURFACE", cls.reply_surface, SURFACES, upper=False),
            update_interval=reader.number("SLACK_UPDATE_INTERVAL_SECONDS", float, cls.update_interval, 0.1, 60.0),
            post_hold=reader.number("SLACK_POST_HOLD_SECONDS", float, cls.post_hold, 0, 60.0),
            status=reader.switch("SLACK_STATUS", cls.status),
            status_text=reader.text("SLACK_STATUS_TEXT", cls.status_text),
            loading_messages=reader.texts("SLACK_LOADING_MESSAGES", cls.loading_messages, most=10),
            feedback_buttons=reader.switch("SLACK_FEEDBACK_BUTTONS", cls.feedback_buttons),
            slack_limits=reader.limits("SLACK_RATE_LIMITS", DEFAULT_LIMITS),
            context_max_chars=reader.number("CONTEXT_MAX_CHARS", int, cls.context_max_chars, 1_000, 2_000_000),
            context_read_seconds=reader.number("CONTEXT_READ_SECONDS", float, cls.context_read_seconds, 0.5, 600),
            name_lookup_seconds=reader.number("NAME_LOOKUP_SECONDS", float, cls.name_lookup_seconds, 0, 600),
            files_read=reader.subset("FILES_READ", FILE_KINDS),
            file_max_mb=reader.number("FILE_MAX_MB", float, cls.file_max_mb, 0.01, 4.5),
            files_max_mb=reader.number("FILES_MAX_MB_PER_REPLY", float, cls.files_max_mb, 0.01, 100.0),
            files_read_seconds=reader.number("FILES_READ_SECONDS", float, cls.files_read_seconds, 1, 600),
            dm_history_messages=reader.number("DM_HISTORY_MESSAGES", int, cls.dm_history_messages, 1, 1_000),
            dm_history_hours=reader.number("DM_HISTORY_HOURS", float, cls.dm_history_hours, 0.01, 24 * 365),
            max_concurrent_replies=reader.number("MAX_CONCURRENT_REPLIES", int, cls.max_concurrent_replies, 1, 1_000),
            max_waiting_replies=reader.number("MAX_WAITING_REPLIES", int, cls.max_waiting_replies, 0, 10_000),
            log_level=reader.choice("LOG_LEVEL", cls.log_level, ("DEBUG", "INFO", "WARNING", "ERROR")),
            bedrock_read_timeout=reader.number("BEDROCK_READ_TIMEOUT_SECONDS", float, cls.bedrock_read_timeout, 1, 3600),
            bedrock_retry_attempts=reader.number("BEDROCK_RETRY_ATTEMPTS", int, cls.bedrock_retry_attempts, 1, 20),
            bedrock_retry_seconds=reader.number("BEDROCK_RETRY_MAX_SECONDS", float, cls.bedrock_retry_seconds, 0, 600),
            bedrock_retry_base_seconds=reader.number(
                "BEDROCK_RETRY_BASE_SECONDS", float, cls.bedrock_retry_base_seconds, 0, 60),
            slack_retry_attempts=reader.number("SLACK_RETRY_ATTEMPTS", int, cls.slack_retry_attempts, 1, 20),
            slack_retry_seconds=reader.number("SLACK_RETRY_MAX_SECONDS", float, cls.slack_retry_seconds, 0, 3600),
            reply_deadline=reader.number("REPLY_DEADLINE_SECONDS", float, cls.reply_deadline, 1, 3600),
            shutdown_grace=reader.number("SHUTDOWN_GRACE_SECONDS", float, cls.shutdown_grace, 0, 3600),
            max_replies_per_user=reader.number("MAX_REPLIES_PER_USER", int, cls.max_replies_per_user, 1, 1_000),
            max_message_chars=reader.number("MAX_MESSAGE_CHARS", int, cls.max_message_chars, 100, 1_000_000),
            allowed_channels=reader.ids("ALLOWED_CHANNEL_IDS", "C"),
            allowed_users=reader.ids("ALLOWED_USER_IDS", "U"),
            metrics_port=reader.number("METRICS_PORT", int, None, 1, 65_535),
            redis_url=reader.redis_url("REDIS_URL"),
            redis_key_prefix=reader.text("REDIS_KEY_PREFIX", cls.redis_key_prefix),
            redis_timeout=reader.number("REDIS_TIMEOUT_SECONDS", float, cls.redis_timeout, 0.01, 5.0),
            redis_lease_seconds=reader.number("REDIS_LEASE_SECONDS", float, cls.redis_lease_seconds, 1.0, 3600.0),
            aws_region=reader.text("AWS_REGION", "") or None,  # botocore itself reads only AWS_DEFAULT_REGION
        )
        reader.retired(RETIRED)
        if reader.problems:
            raise SettingsError(reader.problems)
        return cls(**values)


class _Reader:
    """Reads variables, noting every problem instead of stopping at the first."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self._env = env
        self.problems: list[str] = []

    def _get(self, name: str) -> str | None:
        value = self._env.get(name, "").strip()
        return value or None

    def token(self, name: str, prefix: str, where: str, *, used: bool = True) -> str:
        """A Slack token of the kind `prefix` names; not read at all where the mode does not use it."""
        if not used:
            return ""
        value = self._get(name)
        if value is None:
            self.problems.append(f"{name} is missing: it is {where}.")
            return ""
        if not value.startswith(prefix):
            self.problems.append(
                f"{name} should start with {prefix!r} but starts with {value[:5]!r}: it is {where}."
            )
        return value

    def secret(self, name: str, *, required: bool, where: str) -> str:
        value = self._get(name)
        if value is None and required:
            self.problems.append(f"{name} is missing: it is {where}.")
        return value or ""

    def url(self, name: str, default: str) -> str:
        value = self._get(name)
        if value is None:
            return default
        parsed = urlparse(value)
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            self.problems.append(f"{name} must be an http(s) URL such as {default}, not {value!r}.")
        return value if value.endswith("/") else value + "/"

    def redis_url(self, name: str) -> str:
        """A Redis URL (redis://, rediss:// for TLS, unix://), or "" for none. A problem never shows its password."""
        value = self._get(name) or ""
        parsed = urlparse(value)
        if value and (parsed.scheme not in ("redis", "rediss", "unix") or not (parsed.hostname or parsed.path)):
            shown = f"{parsed.scheme}://…" if parsed.scheme else "a value that is not a URL"
            self.problems.append(f"{name} must be a Redis URL such as redis://localhost:6379/0 (rediss:// for TLS, "
                                 f"unix:///path/to/redis.sock), not {shown}.")
        return value

    def text(self, name: str, default: str) -> str:
        return self._get(name) or default

    def number(self, name: str, kind: Callable[[str], T], default: T, low: float, high: float) -> T:
        value = self._get(name)
        if value is None:
            return default
        what = "a whole number" if kind is int else "a number"
        try:
            number = kind(value)
        except ValueError:
            self.problems.append(f"{name} must be {what} from {low:g} to {high:g}, not {value!r}.")
            return default
        if not low <= number <= high:  # type: ignore[operator]
            self.problems.append(f"{name} must be {what} from {low:g} to {high:g}, not {value!r}.")
        return number

    def ids(self, name: str, example: str) -> frozenset[str]:
        """A comma-separated list of Slack ids; empty means no restriction."""
        values = frozenset(part.strip() for part in (self._get(name) or "").split(",") if part.strip())
        bad = sorted(value for value in values if not value.isalnum() or not value.isupper())
        if bad:
            self.problems.append(
                f"{name} must list Slack ids separated by commas (like {example}0123ABCD), not {', '.join(bad)!s}."
            )
        return values

    def choice(self, name: str, default: str, choices: tuple[str, ...], *, upper: bool = True,
               why: str = "") -> str:
        value = self._get(name) or default
        value = value.upper() if upper else value.lower()
        if value not in choices:
            self.problems.append(f"{name} must be {why or 'one of ' + ', '.join(choices)}, not {value!r}.")
        return value

    def switch(self, name: str, default: bool) -> bool:
        value = self._get(name)
        if value is None:
            return default
        if value.lower() in ("on", "true", "yes", "1"):
            return True
        if value.lower() in ("off", "false", "no", "0"):
            return False
        self.problems.append(f"{name} must be on or off, not {value!r}.")
        return default

    def subset(self, name: str, choices: frozenset[str]) -> frozenset[str]:
        """Some of `choices`, separated by commas; `none` for none; all of them unset."""
        value = self._get(name)
        if value is None:
            return choices
        if value.lower() == "none":
            return frozenset()
        chosen = frozenset(part.strip().lower() for part in value.split(",") if part.strip())
        if chosen - choices:
            self.problems.append(f"{name} must list some of {', '.join(sorted(choices))} separated by commas "
                                 f"(or none), not {value!r}.")
        return chosen & choices

    def texts(self, name: str, default: tuple[str, ...], *, most: int) -> tuple[str, ...]:
        """Texts separated by `|`; `none` for none."""
        value = self._get(name)
        if value is None:
            return default
        if value.lower() == "none":
            return ()
        texts = tuple(part.strip() for part in value.split("|") if part.strip())
        if len(texts) > most:
            self.problems.append(f"{name} may hold at most {most} texts separated by |, not {len(texts)}.")
        return texts[:most]

    def limits(self, name: str, defaults: Mapping[str, MethodLimits]) -> dict[str, MethodLimits]:
        """Slack budgets: `method=PER_MINUTE/BURST` entries separated by commas (`method@channel=…` for a
        method's per-channel budget; `none` per minute: no budget of the bot's own, only Retry-After). A burst
        given here is taken as known: the bot does not probe beyond it."""
        limits = dict(defaults)
        for entry in filter(None, (part.strip() for part in (self._get(name) or "").split(","))):
            key, _, value = entry.partition("=")
            method, _, scope = key.strip().partition("@")
            rate, _, burst = value.strip().partition("/")
            try:
                per_minute = None if rate.strip().lower() == "none" else float(rate)
                size = float(burst) if burst.strip() else 1.0
                limit = Limit(per_minute, size, largest_burst=size)
                if (per_minute is not None and per_minute <= 0) or limit.burst < 1:
                    raise ValueError(entry)
            except ValueError:
                self.problems.append(f"{name}: {entry!r} must read method=PER_MINUTE/BURST, like chat.update=50/20.")
                continue
            if method not in defaults or scope not in ("", "channel", "workspace"):
                self.problems.append(f"{name}: {key.strip()!r} is not one of {', '.join(sorted(defaults))} "
                                     "(add @channel for a per-channel budget).")
                continue
            current = limits[method]
            limits[method] = (replace(current, per_channel=limit) if scope == "channel"
                              else replace(current, workspace=limit))
        return limits

    def retired(self, names: Mapping[str, str]) -> None:
        for name, replacement in names.items():
            if self._get(name) is not None:
                self.problems.append(f"{name} is no longer read: use {replacement}.")
