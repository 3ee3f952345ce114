"""Settings, read once at start from the environment (a `.env` file fills in what the environment lacks).

Every problem is collected before anything is reported, so one run names every missing or malformed
variable and where to get it. The settings are small value objects, one per part of the bot, each handed
only to the part that needs it and defined beside it; their fields are named after their variables without
the part's prefix (`SLACK_POST_HOLD_SECONDS` is `settings.delivery.post_hold_seconds`). AWS credentials and
region are not settings of ours: boto3 finds them through its standard chain (AWS_REGION, AWS_PROFILE,
AWS_ENDPOINT_URL_BEDROCK_RUNTIME, ...).
"""

from __future__ import annotations

import importlib.util
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable, Mapping, TypeVar
from urllib.parse import parse_qs, urlparse

from bot.conversation.assemble import ContextSettings
from bot.conversation.files import FILE_KINDS as _FILE_KINDS, FilesSettings
from bot.model.bedrock import ModelSettings
from bot.model.caching import PROMPT_CACHE_CHOICES
from bot.profiles.profile import (FOLLOW_UP_MODES, KNOWLEDGE_BASE_ENTRIES, MAX_PROMPTS, Profile,
                                  read_knowledge_bases, read_prompt)
from bot.profiles.watch import ProfileSettings, load as load_profiles
from bot.reply.greeting import GreetingSettings
from bot.reply.replier import ReplySettings
from bot.shared.base import RedisSettings
from bot.sinks.delivery import DeliverySettings
from bot.sinks.surfaces import PREFERENCES
from bot.slack.calls import SlackSettings
from bot.slack.methods import DEFAULT_LIMITS, Limit, MethodLimits
from bot.tools import mcp_config
from bot.tools.base import ToolSettings

SLACK_APPS_PAGE = "https://api.slack.com/apps"
FILE_KINDS = frozenset(_FILE_KINDS)  # what FILES_READ may name
RETIRED = {  # settings that are no longer read → what replaces them
    "SLACK_EDITS_PER_MINUTE": "SLACK_RATE_LIMITS (for example chat.update=50/20)",
    "SLACK_EDIT_BURST": "SLACK_RATE_LIMITS (for example chat.update=50/20)",
    "SLACK_EDIT_INTERVAL_SECONDS": "SLACK_UPDATE_INTERVAL_SECONDS",
}

T = TypeVar("T")
_PLACEHOLDER = re.compile(r"\.\.\.|…|<[^>]*>|your[-_ ]|^(xox[a-z]|xapp)-x*$", re.I)  # `xoxb-...`, `<token>`, …


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
class HttpSettings:
    """Where the bot listens: the Events API in HTTP mode (HOST, PORT) and the metrics (METRICS_PORT)."""

    host: str = "0.0.0.0"
    port: int = 3000  # 0: any free port
    metrics_port: int | None = None  # a port of its own for /metrics (Socket Mode's only way to serve them)


@dataclass(frozen=True)
class Settings:
    slack: SlackSettings = field(default_factory=SlackSettings)
    delivery: DeliverySettings = field(default_factory=DeliverySettings)
    model: ModelSettings = field(default_factory=ModelSettings)
    context: ContextSettings = field(default_factory=ContextSettings)
    files: FilesSettings = field(default_factory=FilesSettings)
    replies: ReplySettings = field(default_factory=ReplySettings)
    redis: RedisSettings = field(default_factory=RedisSettings)
    http: HttpSettings = field(default_factory=HttpSettings)
    tools: ToolSettings = field(default_factory=ToolSettings)
    greeting: GreetingSettings = field(default_factory=GreetingSettings)
    profiles: ProfileSettings = field(default_factory=ProfileSettings)
    log_level: str = "INFO"

    @property
    def base_profile(self) -> Profile:
        """The profile the environment makes: what each profile of PROFILES_FILE leaves out, and the only one
        without the file."""
        return Profile(
            name="default", system_prompt=self.model.system_prompt, model_id=self.model.model_id,
            max_tokens=self.model.max_tokens, knowledge_bases=self.tools.knowledge_bases, tools=None, people=None,
            follow_ups=self.replies.follow_ups, greeting=self.greeting.text, suggested_prompts=self.greeting.prompts)

    def __repr__(self) -> str:  # never print a token, even by accident
        return f"Settings(model_id={self.model.model_id!r}, slack_api_url={self.slack.api_url!r}, ...)"

    @classmethod
    def from_env(cls, env: Mapping[str, str], *, mode: str = "socket") -> "Settings":
        """`mode`: "socket" (Socket Mode: needs the app token), "http" (Events API: needs the signing secret)
        or "chat" (the terminal: needs no Slack setting)."""
        read = _Reader(env)
        slack, delivery, model = SlackSettings(), DeliverySettings(), ModelSettings()
        context, files, replies, redis, http = (ContextSettings(), FilesSettings(), ReplySettings(),
                                                RedisSettings(), HttpSettings())
        tools = ToolSettings()
        settings = cls(
            slack=SlackSettings(
                bot_token=read.token(
                    "SLACK_BOT_TOKEN", "xoxb-",
                    f'the Bot User OAuth Token (xoxb-...) on your app\'s "OAuth & Permissions" page, {SLACK_APPS_PAGE}',
                    used=mode != "chat"),
                app_token=read.token(
                    "SLACK_APP_TOKEN", "xapp-",
                    'an app-level token (xapp-...) with the connections:write scope, made under "Basic Information" '
                    f'→ "App-Level Tokens", {SLACK_APPS_PAGE}',
                    used=mode == "socket"),
                api_url=read.url("SLACK_API_URL", slack.api_url),
                signing_secret=read.secret(
                    "SLACK_SIGNING_SECRET", required=mode == "http",
                    where=f'the Signing Secret on your app\'s "Basic Information" page, {SLACK_APPS_PAGE}'),
                rate_limits=read.limits("SLACK_RATE_LIMITS", DEFAULT_LIMITS),
                retry_attempts=read.number("SLACK_RETRY_ATTEMPTS", int, slack.retry_attempts, 1, 20),
                retry_max_seconds=read.number("SLACK_RETRY_MAX_SECONDS", float, slack.retry_max_seconds, 0, 3600),
            ),
            delivery=DeliverySettings(
                reply_surface=read.choice("SLACK_REPLY_SURFACE", delivery.reply_surface, tuple(PREFERENCES),
                                          upper=False),
                update_interval_seconds=read.number("SLACK_UPDATE_INTERVAL_SECONDS", float,
                                                    delivery.update_interval_seconds, 0.1, 60.0),
                post_hold_seconds=read.number("SLACK_POST_HOLD_SECONDS", float, delivery.post_hold_seconds, 0, 60.0),
                status=read.switch("SLACK_STATUS", delivery.status),
                status_text=read.text("SLACK_STATUS_TEXT", delivery.status_text),
                loading_messages=read.texts("SLACK_LOADING_MESSAGES", delivery.loading_messages, most=10),
                feedback_buttons=read.switch("SLACK_FEEDBACK_BUTTONS", delivery.feedback_buttons),
                agent_sessions=read.switch("SLACK_AGENT_SESSIONS", delivery.agent_sessions),
            ),
            model=ModelSettings(
                model_id=read.text("BEDROCK_MODEL_ID", model.model_id),
                system_prompt=read.text("BEDROCK_SYSTEM_PROMPT", model.system_prompt),
                max_tokens=read.number("BEDROCK_MAX_TOKENS", int, model.max_tokens, 1, 200_000),
                temperature=read.number("BEDROCK_TEMPERATURE", float, model.temperature, 0.0, 1.0),
                prompt_cache=read.choice(
                    "BEDROCK_PROMPT_CACHE", model.prompt_cache, PROMPT_CACHE_CHOICES, upper=False,
                    why="auto (on for the models known to take prompt caching), on (always send cache points) "
                        "or off (never)"),
                read_timeout_seconds=read.number("BEDROCK_READ_TIMEOUT_SECONDS", float, model.read_timeout_seconds,
                                                 1, 3600),
                retry_attempts=read.number("BEDROCK_RETRY_ATTEMPTS", int, model.retry_attempts, 1, 20),
                retry_max_seconds=read.number("BEDROCK_RETRY_MAX_SECONDS", float, model.retry_max_seconds, 0, 600),
                retry_base_seconds=read.number("BEDROCK_RETRY_BASE_SECONDS", float, model.retry_base_seconds, 0, 60),
                aws_region=read.text("AWS_REGION", "") or None,  # botocore itself reads only AWS_DEFAULT_REGION
                guardrail_id=read.pattern("BEDROCK_GUARDRAIL_ID", "",
                                          r"[a-z0-9]+|arn:aws(-[^:]+)?:bedrock:[a-z0-9-]{1,20}:[0-9]{12}:guardrail/"
                                          r"[a-z0-9]+", "a guardrail id (like abc123def456) or ARN"),
                guardrail_version=read.pattern("BEDROCK_GUARDRAIL_VERSION", model.guardrail_version,
                                               r"[1-9][0-9]{0,7}|DRAFT", "a version number or DRAFT"),
                guardrail_stream=read.choice("BEDROCK_GUARDRAIL_STREAM", model.guardrail_stream, ("sync", "async"),
                                             upper=False, why="sync (text shows once the guardrail passed it) or "
                                                              "async (at once; a block may come after some text)"),
            ),
            context=ContextSettings(
                max_chars=read.number("CONTEXT_MAX_CHARS", int, context.max_chars, 1_000, 2_000_000),
                read_seconds=read.number("CONTEXT_READ_SECONDS", float, context.read_seconds, 0.5, 600),
                name_lookup_seconds=read.number("NAME_LOOKUP_SECONDS", float, context.name_lookup_seconds, 0, 600),
                dm_history_messages=read.number("DM_HISTORY_MESSAGES", int, context.dm_history_messages, 1, 1_000),
                dm_history_hours=read.number("DM_HISTORY_HOURS", float, context.dm_history_hours, 0.01, 24 * 365),
                max_message_chars=read.number("MAX_MESSAGE_CHARS", int, context.max_message_chars, 100, 1_000_000),
            ),
            files=FilesSettings(
                read=read.subset("FILES_READ", FILE_KINDS),
                file_max_mb=read.number("FILE_MAX_MB", float, files.file_max_mb, 0.01, 4.5),
                max_mb_per_reply=read.number("FILES_MAX_MB_PER_REPLY", float, files.max_mb_per_reply, 0.01, 100.0),
                read_seconds=read.number("FILES_READ_SECONDS", float, files.read_seconds, 1, 600),
            ),
            replies=ReplySettings(
                max_concurrent_replies=read.number("MAX_CONCURRENT_REPLIES", int, replies.max_concurrent_replies,
                                                   1, 1_000),
                max_waiting_replies=read.number("MAX_WAITING_REPLIES", int, replies.max_waiting_replies, 0, 10_000),
                reply_deadline_seconds=read.number("REPLY_DEADLINE_SECONDS", float, replies.reply_deadline_seconds,
                                                   1, 3600),
                shutdown_grace_seconds=read.number("SHUTDOWN_GRACE_SECONDS", float, replies.shutdown_grace_seconds,
                                                   0, 3600),
                max_replies_per_user=read.number("MAX_REPLIES_PER_USER", int, replies.max_replies_per_user, 1, 1_000),
                allowed_channel_ids=read.ids("ALLOWED_CHANNEL_IDS", "C"),
                allowed_user_ids=read.ids("ALLOWED_USER_IDS", "U"),
                daily_tokens_per_person=read.number("DAILY_TOKENS_PER_PERSON", int, replies.daily_tokens_per_person,
                                                    0, 1_000_000_000),
                follow_ups=read.choice("FOLLOW_UPS", replies.follow_ups, FOLLOW_UP_MODES, upper=False,
                                       why="asker (the person the bot answered in the thread), anyone or off"),
            ),
            redis=RedisSettings(
                url=read.redis_url("REDIS_URL"),
                key_prefix=read.text("REDIS_KEY_PREFIX", redis.key_prefix),
                timeout_seconds=read.number("REDIS_TIMEOUT_SECONDS", float, redis.timeout_seconds, 0.01, 5.0),
                lease_seconds=read.number("REDIS_LEASE_SECONDS", float, redis.lease_seconds, 1.0, 3600.0),
            ),
            http=HttpSettings(
                host=read.text("HOST", http.host),
                port=read.number("PORT", int, http.port, 0, 65_535),  # 0: any free port
                metrics_port=read.number("METRICS_PORT", int, None, 1, 65_535),
            ),
            tools=ToolSettings(
                knowledge_bases=read.knowledge_bases("BEDROCK_KNOWLEDGE_BASE_IDS"),
                knowledge_base_results=read.number("BEDROCK_KNOWLEDGE_BASE_RESULTS", int,
                                                   tools.knowledge_base_results, 1, 100),
                slack_search=read.choice("SLACK_SEARCH", tools.slack_search, ("auto", "on", "off"), upper=False,
                                         why="auto (where the app has a search:read scope), on or off"),
                slack_search_results=read.number("SLACK_SEARCH_RESULTS", int, tools.slack_search_results, 1, 20),
                mcp_servers=read.mcp_servers("MCP_SERVERS_FILE"),
                approval_seconds=read.number("TOOL_APPROVAL_SECONDS", float, tools.approval_seconds, 1, 3600),
                rounds=read.number("TOOL_ROUNDS", int, tools.rounds, 1, 20),
                max_tokens=read.number("TOOL_MAX_TOKENS", int, tools.max_tokens, 1_000, 10_000_000),
                timeout_seconds=read.number("TOOL_TIMEOUT_SECONDS", float, tools.timeout_seconds, 1, 600),
                aws_region=read.text("AWS_REGION", "") or None,
            ),
            greeting=GreetingSettings(
                text="" if (greeting := read.text("GREETING", GreetingSettings.text)).lower() == "none" else greeting,
                prompts=read.prompts("SUGGESTED_PROMPTS", GreetingSettings.prompts),
            ),
            profiles=read.profiles("PROFILES_FILE"),
            log_level=read.choice("LOG_LEVEL", cls.log_level, ("DEBUG", "INFO", "WARNING", "ERROR")),
        )
        read.retired(RETIRED)
        if read.problems:
            raise SettingsError(read.problems)
        return settings


# REDIS_URL's query options the bot leaves to the URL (TLS); every other one would change how it talks to Redis
# (`decode_responses` makes every answer text the bot does not expect; timeouts and retries are its own)
REDIS_URL_OPTIONS = frozenset({"ssl_cert_reqs", "ssl_ca_certs", "ssl_ca_path", "ssl_certfile", "ssl_keyfile",
                               "ssl_check_hostname", "ssl_min_version", "db"})


def redis_url_problems(url: str) -> list[str]:
    """What is wrong with a Redis URL as the Redis client reads it (its port, its database, its options)."""
    try:
        from redis.connection import parse_url
    except ImportError:
        return ["set, but the Redis client is not installed: pip install '.[redis]'."]
    parsed = urlparse(url)
    try:
        parsed.port  # noqa: B018 (a port that is not one raises here)
        parse_url(url)
    except ValueError as error:
        return [f"{str(error).rstrip('.')}; it should read like redis://host:6379/0."]
    problems = []
    database = parsed.path.strip("/")
    if parsed.scheme != "unix" and database and not database.isdigit():
        problems.append(f"the database after the host must be a number (like /0), not /{database[:20]}.")
    refused = sorted(set(parse_qs(parsed.query, keep_blank_values=True)) - REDIS_URL_OPTIONS)
    if refused:
        problems.append(f"the option(s) {', '.join(refused)} are not taken: the bot sets how it talks to Redis itself "
                        "(REDIS_TIMEOUT_SECONDS for the timeout); only TLS options (ssl_…) and db may be given.")
    return problems


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
        if value is None or _PLACEHOLDER.search(value):  # .env.example's `xoxb-...` is no token either
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
        """A Redis URL (redis://, rediss:// for TLS, unix://), or "" for none, read as the Redis client will read
        it; options that would change how the bot talks to Redis are refused. A problem never shows a password."""
        value = self._get(name) or ""
        parsed = urlparse(value)
        if value and (parsed.scheme not in ("redis", "rediss", "unix") or not (parsed.hostname or parsed.path)):
            shown = f"{parsed.scheme}://…" if parsed.scheme else "a value that is not a URL"
            self.problems.append(f"{name} must be a Redis URL such as redis://localhost:6379/0 (rediss:// for TLS, "
                                 f"unix:///path/to/redis.sock), not {shown}.")
            return value
        if value:
            self.problems.extend(f"{name}: {problem}" for problem in redis_url_problems(value))
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

    def pattern(self, name: str, default: str, pattern: str, what: str) -> str:
        """A text that must match `pattern` whole."""
        value = self._get(name) or default
        if value and not re.fullmatch(pattern, value):
            self.problems.append(f"{name} must be {what}, not {value[:60]!r}.")
        return value

    def prompts(self, name: str, default: tuple[tuple[str, str], ...]) -> tuple[tuple[str, str], ...]:
        """Suggested prompts separated by `|`, each `title=message` (or just the message); `none` for none."""
        value = self._get(name)
        if value is None:
            return default
        if value.lower() == "none":
            return ()
        prompts = [read_prompt(entry) for entry in filter(None, (part.strip() for part in value.split("|")))]
        if len(prompts) > MAX_PROMPTS:
            self.problems.append(f"{name} may hold at most {MAX_PROMPTS} prompts separated by |, not {len(prompts)}.")
        return tuple(prompts[:MAX_PROMPTS])

    def knowledge_bases(self, name: str) -> tuple[tuple[str, str], ...]:
        """Knowledge bases separated by `|`, each `ID` or `ID=what it holds` (which the model and people read)."""
        bases, bad = read_knowledge_bases((self._get(name) or "").split("|"))
        self.problems.extend(f"{name} must list {KNOWLEDGE_BASE_ENTRIES}, separated by |; {entry[:40]!r} is not one."
                             for entry in bad)
        return bases

    def mcp_servers(self, name: str) -> tuple:
        """The MCP servers the file `name` points at describes (see `tools.mcp_config`)."""
        path = self._get(name)
        if path is None:
            return ()
        try:
            text = Path(path).read_text()
        except OSError as error:
            self.problems.append(f"{name}: {path} cannot be read ({error.strerror or error}).")
            return ()
        servers, problems = mcp_config.parse(text, self._env, f"{name} ({path})")
        self.problems.extend(problems)
        if servers and importlib.util.find_spec("mcp") is None:
            self.problems.append(f"{name} is set, but the MCP SDK is not installed: pip install '.[mcp]'.")
        return servers

    def profiles(self, name: str) -> ProfileSettings:
        """The profiles of the file `name` points at (see `bot.profiles.parse`)."""
        path = self._get(name)
        if path is None:
            return ProfileSettings()
        profiles, problems = load_profiles(path, name)
        self.problems.extend(problems)
        return profiles

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
