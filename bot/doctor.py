"""`python -m bot doctor`: checks the set-up in order and prints a checklist with a fix for each failure.

Settings; the bot token (`auth.test`) and its scopes (the `x-oauth-scopes` header); the app token
(`apps.connections.open`); whether Slack lets this app stream natively (a `chat.startStream` into a
conversation that does not exist, so nothing is posted); AWS credentials and region; and a minimal
streaming call to the configured model, which catches missing model access and a model id that needs an
inference profile; with `REDIS_URL`, that Redis answers and runs the bot's scripts. Exit status 0 only when
every check passes; native streaming is optional (replies are then edited messages), so it can only warn.
"""

from __future__ import annotations

import logging
import sys
from dataclasses import dataclass, replace
from typing import Callable, Mapping, TextIO

import boto3
from slack_sdk import WebClient

from bot import notes
from bot.model.bedrock import BedrockModel, ModelSettings, RetryPolicy, create_bedrock_client
from bot.model.errors import ModelError
from bot.settings import Settings, SettingsError
from bot.slack import errors, methods, scopes
from bot.slack.calls import SlackCalls
from bot.slack.kinds import APP, SlackError
from bot.profiles.profile import DM, Profile
from bot.tools.base import ToolFailed
from bot.tools.knowledge import knowledge_bases
from bot.tools.slack_search import SEARCH_SCOPES

# Every scope the bot uses (manifest.yml grants exactly these; a test keeps the two in step).
REQUIRED_SCOPES = frozenset({
    "app_mentions:read", "chat:write", "channels:history", "groups:history", "im:history", "mpim:history",
    "users:read", "files:read", "assistant:write",
})
GROUP_SCOPE = "usergroups:read"  # needed only where a profile lets a user group ask


_NOWHERE = "C0000000000"  # a conversation id no workspace has: a probe there posts nothing
_NO_SUCH_CONVERSATION = ("channel_not_found", "not_in_channel", "invalid_thread_ts")  # what a probe should hear


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str  # what was found, or what to fix
    optional: bool = False  # a failure only warns: the bot works without it


def run(env: Mapping[str, str], out: TextIO = sys.stdout, bedrock_client=None, mode: str = "socket") -> int:
    """`mode`: "socket" or "http", the way the bot will be run."""
    calls_log = logging.getLogger("bot.slack")  # the checklist says what each call found: the calls' own warnings
    level, calls_log.level = calls_log.level, logging.ERROR  # (a probe meant to fail) would only confuse it
    try:
        checks = list(_checks(env, bedrock_client, mode))
    finally:
        calls_log.setLevel(level)
    for check in checks:
        mark = "✓" if check.ok else "!" if check.optional else "✗"
        out.write(f"{mark} {check.name}:{'' if check.detail.startswith(chr(10)) else ' '}{check.detail}\n")
    failed = [check for check in checks if not check.ok and not check.optional]
    out.write("\nAll checks passed: the bot is ready.\n" if not failed else f"\n{len(failed)} check(s) failed.\n")
    return 0 if not failed else 1


def _checks(env: Mapping[str, str], bedrock_client, mode: str):
    try:
        settings = Settings.from_env(env, mode=mode)
    except SettingsError as error:
        yield Check("Settings", False, "\n    " + "\n    ".join(error.problems))
        yield _aws(Settings(model=ModelSettings(aws_region=env.get("AWS_REGION") or None)))  # AWS is checked anyway
        return
    yield Check("Settings", True, f"read; model {settings.model.model_id}")
    if settings.profiles.path:
        yield _profiles(settings)
    client = WebClient(token=settings.slack.bot_token, base_url=settings.slack.api_url, timeout=10,
                       retry_handlers=[])
    yield from _slack(client, settings)
    yield _streaming(client, settings)
    if mode == "socket":
        yield _app_token(client, settings)
    else:  # Slack signs each request; a wrong secret can only show as 401s once events arrive
        yield Check("Slack signing secret", True, "set; requests Slack signs with another secret get 401")
    if settings.redis.url:
        yield _redis(settings)
    aws = _aws(settings)
    yield aws
    if aws.ok:
        for model_id in _model_ids(settings):
            yield _model(settings, model_id, bedrock_client)
        yield from _knowledge_bases(settings)
    yield from _mcp_servers(settings)


def _profiles(settings: Settings) -> Check:
    """The profile each conversation the file names gets, filled in from the environment, and what every other
    conversation gets."""
    table, base = settings.profiles.table, settings.base_profile
    lines = [f"{'DMs' if channel == DM else channel} → {describe(named.over(base))}"
             for channel, _ in table.channels()
             if (named := table.for_conversation(channel, is_dm=channel == DM)) is not None]
    other = table.for_conversation("", is_dm=False)
    nowhere = "not answered (no default profile)"
    lines.append(f"every other channel → {describe(other.over(base)) if other else nowhere}")
    if not any(channel == DM for channel, _ in table.channels()):
        dm = table.for_conversation("", is_dm=True)
        lines.append(f"DMs → {describe(dm.over(base)) if dm else 'not answered (no default profile)'}")
    return Check(f"Profiles ({settings.profiles.path})", True, "\n    " + "\n    ".join(lines))


def describe(profile: Profile) -> str:
    """A profile on one line: its name and what it sets."""
    tools = "every tool" if profile.tools is None else ", ".join(profile.tools) or "no other tool"
    bases = ", ".join(base for base, _ in profile.knowledge_bases or ()) or "none"
    people = "everyone" if profile.people is None else ", ".join(sorted(profile.people))
    return (f"{profile.name}: model {profile.model_id}, up to {profile.max_tokens} tokens; knowledge bases {bases}; "
            f"{tools}; who may ask: {people}; follow-ups: {profile.follow_ups}")


def _slack(client: WebClient, settings: Settings):
    response = _attempt(methods.AUTH, lambda: client.auth_test())
    if isinstance(response, SlackError):
        yield Check("Slack bot token", False,
                    notes.slack_unusable(response, setting="SLACK_BOT_TOKEN", api_url=settings.slack.api_url))
        return
    yield Check("Slack bot token", True, f"works for @{response.get('user')} in {response.get('team')}")
    granted = scopes.granted(response)
    groups = any(profile.groups for profile in settings.profiles.table.profiles)
    missing = sorted(REQUIRED_SCOPES - granted | ({GROUP_SCOPE} - granted if groups else set()))
    if missing:
        yield Check("Slack scopes", False, f"missing {', '.join(missing)}. Add them under \"OAuth & Permissions\" "
                                           "(or recreate the app from manifest.yml), then reinstall the app.")
    else:
        yield Check("Slack scopes", True, "every scope the bot uses is granted")
    search = sorted(granted & set(SEARCH_SCOPES))
    if settings.tools.slack_search == "off":
        yield Check("Slack search", True, "off (SLACK_SEARCH=off)")
    elif search:
        yield Check("Slack search", True, f"the model may search Slack as the asker ({', '.join(search)})")
    else:
        yield Check("Slack search", True, "off: the app has no search:read scope. To let the model search Slack as the "
                                          "asker, add search:read.public (and .private, .im, .mpim as wanted) under "
                                          "\"OAuth & Permissions\", then reinstall the app.")


def _streaming(client: WebClient, settings: Settings) -> Check:
    """A start into a conversation that does not exist: Slack says no such conversation if it would stream."""
    try:
        SlackCalls(client, attempts=1).call(methods.START, channel=_NOWHERE, thread_ts="1.000001",
                                            recipient_user_id="U0000000000", recipient_team_id="T0000000000",
                                            markdown_text="doctor")
        heard = "ok"
    except SlackError as error:
        if error.code in _NO_SUCH_CONVERSATION:
            return Check("Native streaming", True, "Slack offers chat.startStream to this app")
        if error.applies_to == APP:
            return Check("Native streaming", False, f"Slack refused chat.startStream ({error.code}): replies will be "
                         f"posted and edited instead; {notes.streaming_fix(error.code)}.", optional=True)
        trouble = notes.slack_trouble(error, settings.slack.api_url)
        if trouble is not None:
            return Check("Native streaming", False, f"could not be checked. {trouble}", optional=True)
        heard = error.code
    return Check("Native streaming", False, f"could not be checked (Slack answered {heard}).", optional=True)


def _app_token(client: WebClient, settings: Settings) -> Check:
    response = _attempt(methods.CONNECT,
                        lambda: client.apps_connections_open(app_token=settings.slack.app_token))
    if isinstance(response, SlackError):
        return Check("Slack app token", False,
                     notes.slack_unusable(response, setting="SLACK_APP_TOKEN", api_url=settings.slack.api_url))
    return Check("Slack app token", True, "opens a Socket Mode connection")


def _redis(settings: Settings) -> Check:
    """The Redis several instances share: reachable, writable, and running the scripts the bot uses."""
    import redis

    from bot.shared.redis_state import RedisState

    client = redis.Redis.from_url(settings.redis.url, socket_timeout=5, socket_connect_timeout=5)
    where = RedisState.where(client)
    try:
        version = client.info("server").get("redis_version", "?")
        key = f"{settings.redis.key_prefix or 'bedrock-slack-bot'}:doctor"
        if client.eval("redis.call('SET', KEYS[1], ARGV[1], 'PX', 10000) return redis.call('TIME')[1]",
                       1, key, "ok") is None or client.get(key) != b"ok":
            raise redis.ResponseError("a key written by a script could not be read back")
        client.delete(key)
    except redis.AuthenticationError as error:
        return Check("Redis", False, f"{where} refused the credentials in REDIS_URL ({error}).")
    except (redis.ConnectionError, redis.TimeoutError, OSError) as error:
        return Check("Redis", False, f"cannot reach {where} ({type(error).__name__}: {error}). Start Redis or fix "
                                     "REDIS_URL; instances would each keep their own state meanwhile.")
    except redis.RedisError as error:  # no permission (ACL), scripting disabled, a read-only replica, ...
        return Check("Redis", False, f"{where} would not run what the bot needs ({error}): the bot runs Lua "
                                     "scripts (EVALSHA) and writes keys under REDIS_KEY_PREFIX; use a primary "
                                     "that allows both.")
    finally:
        client.close()
    keys = (f"keys {settings.redis.key_prefix}:*" if settings.redis.key_prefix else
            "keys bedrock-slack-bot:<team>:<bot>:* (this app's own; REDIS_KEY_PREFIX to choose)")
    return Check("Redis", True, f"instances share their state at {where} (Redis {version}), {keys}")


def _aws(settings: Settings) -> Check:
    session = boto3.Session(region_name=settings.model.aws_region)
    if session.region_name is None:
        return Check("AWS", False, "no region. Set AWS_REGION (for example us-east-1).")
    try:
        credentials = session.get_credentials()
    except Exception as error:  # a broken profile, an SSO session that expired, ...
        return Check("AWS", False, f"credentials could not be read ({type(error).__name__}: {error}).")
    if credentials is None:
        return Check("AWS", False, f"no credentials found. {notes.AWS_CREDENTIALS_FIX}")
    return Check("AWS", True, f"credentials found ({credentials.method}), region {session.region_name}")


def _model_ids(settings: Settings) -> list[str]:
    """The models the bot may ask: the environment's, and each profile's."""
    named = [profile.model_id for profile in settings.profiles.table.profiles if profile.model_id]
    return list(dict.fromkeys([settings.model.model_id, *named]))


def _model(settings: Settings, model_id: str, bedrock_client) -> Check:
    model = BedrockModel(
        bedrock_client if bedrock_client is not None else create_bedrock_client(settings.model),
        model_id=model_id, system_prompt="Reply with one word.", max_tokens=5, temperature=0.0,
        retry=RetryPolicy(attempts=1, max_seconds=0, base_seconds=0),
    )
    try:
        for _ in model.stream([{"role": "user", "content": [{"text": "ping"}]}]):
            pass
    except ModelError as error:
        return Check(f"Bedrock model {model_id}", False,
                     f"{notes.plain(notes.model_failure_note(error.kind))} ({error.code})")
    return Check(f"Bedrock model {model_id}", True, "answers a streaming call")


def _knowledge_bases(settings: Settings):
    """Each knowledge base a model may search (the environment's and the profiles') answers a one-result search."""
    tools = settings.tools
    named = [base for profile in settings.profiles.table.profiles for base in profile.knowledge_bases or ()]
    every = tuple(dict.fromkeys([*tools.knowledge_bases, *named]))  # the environment's, and each profile's
    for tool in knowledge_bases(replace(tools, knowledge_bases=every, knowledge_base_results=1,
                                        timeout_seconds=min(tools.timeout_seconds, 10))):
        name = f"Knowledge base {tool.knowledge_base_id} ({tool.about})"
        try:
            tool.run({"query": "test"}, timeout=10)
        except ToolFailed as failure:
            yield Check(name, False, f"{failure.reason}: {failure.detail}")
            continue
        yield Check(name, True, "answers a search")


def _mcp_servers(settings: Settings):
    """Each MCP server answers, and lists the tools the file allows."""
    if not settings.tools.mcp_servers:
        return
    from bot.tools.mcp import McpServers  # the SDK is an extra: imported only where servers are named

    servers = McpServers(settings.tools.mcp_servers)
    try:
        reached = servers.start()
        offered = servers.tools()
    finally:
        servers.close()
    for server in settings.tools.mcp_servers:
        name = f"MCP server {server.name}"
        if reached.get(server.name):
            yield Check(name, False, f"could not connect ({reached[server.name]}). Check its url or command in "
                                     "MCP_SERVERS_FILE, and that it runs.")
            continue
        tools = [tool for tool in offered if tool.server.name == server.name]
        asks = [tool.tool for tool in tools if tool.needs_approval]
        listed = ", ".join(tool.tool for tool in tools) or "none (check its tools list in MCP_SERVERS_FILE)"
        yield Check(name, bool(tools), f"offers {listed}" + (f"; asks first for {', '.join(asks)}" if asks else ""))


def _attempt(method: str, call: Callable):
    """The response, or the kind of Slack failure that stopped it."""
    try:
        return call()
    except Exception as error:  # Slack's answer or the network's failure, mapped to its kind
        return errors.from_exception(method, error)
