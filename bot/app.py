"""Wires the pieces together: a Bolt app whose listeners hand questions to the replier."""

from __future__ import annotations

import atexit
import functools
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from http.client import HTTPException
from typing import Callable, Sequence

from slack_bolt import App
from slack_bolt.adapter.socket_mode import SocketModeHandler
from slack_bolt.error import BoltError
from slack_sdk.errors import SlackApiError

from bot.conversation.assemble import Conversations
from bot.conversation.attachments import SlackFiles
from bot.conversation.history import SlackHistory
from bot.conversation.unreadable import Unreadable
from bot.intake.listeners import register_listeners
from bot.intake.socket_mode import ScreenedSocketModeHandler
from bot.logs import explain_slack_failures
from bot.intake.requests import SeenEvents
from bot.intake.viewing import Viewing
from bot.model.bedrock import Models
from bot.profiles.people import People
from bot.profiles.watch import Profiles
from bot.reply.approval import Approvals
from bot.reply.follow_ups import FollowUps
from bot.reply.greeting import Greeting
from bot.reply.replier import Replier
from bot.reply.session import Sessions
from bot.settings import Settings
from bot.shared.base import RedisSettings, SharedState, app_prefix
from bot.shared.local import LocalState
from bot.sinks.cadence import Cadence
from bot.sinks.delivery import Deliveries, DeliverySettings
from bot.sinks.router import Router
from bot.sinks.surfaces import PLACEHOLDER, PREFERENCES, STATUS
from bot.slack import errors, methods
from bot.slack.calls import SlackCalls
from bot.slack.http import HEADROOM, PooledWebClient
from bot.slack.scopes import Granted
from bot.slack.pacing import Pacer
from bot.tools.base import Tool, ToolSettings
from bot.tools.knowledge import KnowledgeBases
from bot.tools.slack_search import MaySearch, SlackSearch
from bot.tools.toolbox import Toolbox


@dataclass(frozen=True)
class Bot:
    app: App
    replier: Replier
    pacer: Pacer  # Slack's budgets as the bot sees them
    state: SharedState  # what it shares with other instances serving the workspace (if any)


def create_bot(settings: Settings, *, bedrock_client=None, knowledge_client=None,
               cadence: Cadence | None = None) -> Bot:
    """The Bolt app and the replier behind it. Checks the bot token (`auth.test`) on the way, as Bolt does:
    a `SlackError` of its kind if Slack refuses the token, limits the call, or cannot be reached.
    `cadence`: when a growing message is updated (default: every SLACK_UPDATE_INTERVAL_SECONDS)."""
    replies = settings.replies
    explain_slack_failures()  # the Slack edge logs codes; the words for what to do about them are `notes`'
    # No retry handlers of the SDK's own: `SlackCalls` is the one retry policy for Slack. Connections are kept
    # alive and reused, one for each reply in flight and a few more (see `http`).
    client = PooledWebClient(token=settings.slack.bot_token, base_url=settings.slack.api_url, retry_handlers=[],
                             pool_size=replies.max_concurrent_replies + HEADROOM)
    try:
        app = App(
            client=client,  # the token is the client's: Bolt is given no other (see `__main__`)
            signing_secret=settings.slack.signing_secret or None,  # HTTP mode: Bolt checks every request's signature
            # A thread per question in flight or waiting for a slot, so that each shows its sign of life at once;
            # the replier lets `max_concurrent_replies` of them ask the model at a time.
            listener_executor=ThreadPoolExecutor(replies.max_concurrent_replies + replies.max_waiting_replies,
                                                 thread_name_prefix="reply"),
        )
        redis = settings.redis
        if redis.url and not redis.key_prefix:  # keys of this bot's own: two bots may share one Redis
            identity = client.auth_test()
            team = identity.get("team_id") or identity.get("enterprise_id") or "-"
            redis = replace(redis, key_prefix=app_prefix(team, identity.get("bot_id") or identity.get("user_id")
                                                         or "-"))
    except BoltError as error:  # Bolt wraps what Slack answered to its auth.test
        if isinstance(error.__context__, SlackApiError):
            raise errors.from_exception(methods.AUTH, error.__context__) from error
        raise
    except (SlackApiError, OSError, HTTPException) as error:  # Slack refused, or the network failed
        raise errors.from_exception(methods.AUTH, error) from error
    state = shared_state(redis)
    pacer = Pacer(settings.slack.rate_limits, shared=state)
    calls = SlackCalls(client, pacer, attempts=settings.slack.retry_attempts,
                       max_seconds=settings.slack.retry_max_seconds, state=state)
    models = Models(settings.model, bedrock_client, streams_at_once=replies.max_concurrent_replies)
    approvals = Approvals(calls, state, wait_seconds=settings.tools.approval_seconds)
    granted = Granted(calls)  # the token's scopes, asked once when first needed
    unreadable = Unreadable(state)  # files the model could not read, left out of later replies
    profiles = Profiles(settings.base_profile, settings.profiles)
    follow_ups = FollowUps(state, profiles)
    context = settings.context
    replier = Replier(
        calls=calls,
        deliveries=Deliveries(calls, router_for(pacer, settings.delivery), settings.delivery, cadence=cadence),
        conversations=Conversations(
            SlackHistory(calls, dm_messages=context.dm_history_messages, dm_hours=context.dm_history_hours,
                         read_seconds=context.read_seconds, names_seconds=context.name_lookup_seconds),
            SlackFiles(calls, settings.files.limits, seconds=settings.files.read_seconds, granted=granted),
            context, unreadable),
        models=models,
        profiles=profiles,
        settings=replies,
        feedback_buttons=settings.delivery.feedback_buttons,
        state=state,
        toolbox=toolbox_for(settings.tools, calls, granted, knowledge_client),
        tool_settings=settings.tools,
        approvals=approvals,
        sessions=Sessions(calls, enabled=settings.delivery.agent_sessions),
        follow_ups=follow_ups,
        people=People(calls),
        unreadable=unreadable,
    )
    register_listeners(app, replier, SeenEvents(state), calls, approvals, follow_ups,
                       Greeting(calls, profiles, lambda channel, user: replier.may_ask(channel, user, is_dm=True)),
                       Viewing(state))
    return Bot(app, replier, pacer, state)


def toolbox_for(settings: ToolSettings, calls: SlackCalls, granted: Granted, knowledge_client=None) -> Toolbox:
    """The tools the model may use: the knowledge bases named, and Slack search where SLACK_SEARCH allows it
    (auto: where the bot token has a search:read scope, as auth.test says the first time it matters)."""
    search = None if settings.slack_search == "off" else functools.partial(
        SlackSearch, calls, results=settings.slack_search_results)
    connected: Callable[[], Sequence[Tool]] = lambda: ()  # noqa: E731
    if settings.mcp_servers:
        from bot.tools.mcp import McpServers  # the SDK is an extra: imported only where servers are named

        servers = McpServers(settings.mcp_servers)
        servers.start()
        atexit.register(servers.close)  # stdio servers are told to end with the bot
        connected = servers.tools
    return Toolbox(KnowledgeBases(settings, knowledge_client).tools, slack_search=search,
                   may_search=MaySearch(granted) if settings.slack_search == "auto" else lambda: True,
                   connected=connected)


def router_for(pacer: Pacer, settings: DeliverySettings) -> Router:
    """The router of the surfaces SLACK_REPLY_SURFACE prefers, with the status first if SLACK_STATUS is on."""
    return Router(pacer, preference=PREFERENCES[settings.reply_surface],
                  signs_of_life=(STATUS, PLACEHOLDER) if settings.status else (PLACEHOLDER,))


def shared_state(settings: RedisSettings) -> SharedState:
    """Redis if `REDIS_URL` is set (several instances), else this process's own state (one instance)."""
    if not settings.url:
        return LocalState()
    from bot.shared.redis_state import RedisState

    return RedisState(settings.url, prefix=settings.key_prefix, timeout=settings.timeout_seconds,
                      lease_seconds=settings.lease_seconds)


def socket_mode_handler(app: App, settings: Settings) -> SocketModeHandler:
    """Socket Mode: events over a WebSocket the bot opens, through the same Web API base URL."""
    return ScreenedSocketModeHandler(app, settings.slack.app_token, concurrency=settings.replies.max_concurrent_replies)


def connect(handler: SocketModeHandler) -> None:
    """Open the Socket Mode connection (`apps.connections.open` with the app token): a `SlackError` of its
    kind if Slack refuses the token, limits the call, or cannot be reached."""
    try:
        handler.connect()
    except (SlackApiError, OSError, HTTPException) as error:
        raise errors.from_exception(methods.CONNECT, error) from error
