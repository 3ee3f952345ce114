"""Wires the pieces together: a Bolt app whose listeners hand questions to the replier."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from http.client import HTTPException

from slack_bolt import App
from slack_bolt.adapter.socket_mode import SocketModeHandler
from slack_bolt.error import BoltError
from slack_sdk.errors import SlackApiError

from bot.conversation.attachments import SlackFiles
from bot.conversation.files import Limits
from bot.conversation.history import SlackHistory
from bot.intake.listeners import register_listeners
from bot.intake.requests import SeenEvents
from bot.model.bedrock import BedrockModel
from bot.reply.replier import Replier
from bot.settings import Settings
from bot.shared.base import SharedState
from bot.shared.local import LocalState
from bot.sinks.router import Router, Surface
from bot.slack import errors
from bot.slack.calls import SlackCalls
from bot.slack.http import HEADROOM, PooledWebClient
from bot.slack.pacing import Pacer


@dataclass(frozen=True)
class Bot:
    app: App
    replier: Replier
    pacer: Pacer  # Slack's budgets as the bot sees them
    state: SharedState  # what it shares with other instances serving the workspace (if any)


def create_bot(settings: Settings, bedrock_client=None) -> Bot:
    """The Bolt app and the replier behind it. Checks the bot token (`auth.test`) on the way, as Bolt does:
    a `SlackError` of its kind if Slack refuses the token, limits the call, or cannot be reached."""
    # No retry handlers of the SDK's own: `SlackCalls` is the one retry policy for Slack. Connections are kept
    # alive and reused, one for each reply in flight and a few more (see `http`).
    client = PooledWebClient(token=settings.slack_bot_token, base_url=settings.slack_api_url, retry_handlers=[],
                             pool_size=settings.max_concurrent_replies + HEADROOM)
    try:
        app = App(
            client=client,  # the token is the client's: Bolt is given no other (see `__main__`)
            signing_secret=settings.slack_signing_secret or None,  # HTTP mode: Bolt checks every request's signature
            # A thread per question in flight or waiting for a slot, so that each shows its sign of life at once;
            # the replier lets `max_concurrent_replies` of them ask the model at a time.
            listener_executor=ThreadPoolExecutor(settings.max_concurrent_replies + settings.max_waiting_replies,
                                                 thread_name_prefix="reply"),
        )
    except BoltError as error:  # Bolt wraps what Slack answered to its auth.test
        if isinstance(error.__context__, SlackApiError):
            raise errors.from_exception("auth.test", error.__context__) from error
        raise
    except (OSError, HTTPException) as error:  # the network failed before Slack could answer
        raise errors.from_exception("auth.test", error) from error
    state = shared_state(settings)
    pacer = Pacer(settings.slack_limits, shared=state)
    calls = SlackCalls(client, pacer, attempts=settings.slack_retry_attempts, max_seconds=settings.slack_retry_seconds)
    model = BedrockModel.from_settings(settings, bedrock_client)
    replier = Replier(
        calls=calls,
        router=Router(pacer, surface=Surface(settings.reply_surface), status=settings.status),
        history=SlackHistory(calls, dm_messages=settings.dm_history_messages, dm_hours=settings.dm_history_hours,
                             read_seconds=settings.context_read_seconds, names_seconds=settings.name_lookup_seconds),
        files=SlackFiles(calls, Limits(kinds=settings.files_read, max_file_bytes=int(settings.file_max_mb * 1e6),
                                       reply_bytes=int(settings.files_max_mb * 1e6)),
                         seconds=settings.files_read_seconds),
        model=model,
        settings=settings,
        state=state,
    )
    register_listeners(app, replier, SeenEvents(state), calls)
    return Bot(app, replier, pacer, state)


def shared_state(settings: Settings) -> SharedState:
    """Redis if `REDIS_URL` is set (several instances), else this process's own state (one instance)."""
    if not settings.redis_url:
        return LocalState()
    from bot.shared.redis_state import RedisState

    return RedisState(settings.redis_url, prefix=settings.redis_key_prefix, timeout=settings.redis_timeout,
                      lease_seconds=settings.redis_lease_seconds)


def socket_mode_handler(app: App, settings: Settings) -> SocketModeHandler:
    """Socket Mode: events over a WebSocket the bot opens, through the same Web API base URL."""
    return SocketModeHandler(app, settings.slack_app_token, concurrency=settings.max_concurrent_replies)


def connect(handler: SocketModeHandler) -> None:
    """Open the Socket Mode connection (`apps.connections.open` with the app token): a `SlackError` of its
    kind if Slack refuses the token, limits the call, or cannot be reached."""
    try:
        handler.connect()
    except (SlackApiError, OSError, HTTPException) as error:
        raise errors.from_exception("apps.connections.open", error) from error
