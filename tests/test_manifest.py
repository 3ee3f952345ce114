"""`manifest.yml` grants every scope the bot's Web API calls and events need, and no others."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from bot.doctor import GROUP_SCOPE, REQUIRED_SCOPES

ROOT = Path(__file__).resolve().parent.parent
# What each method or event the bot uses needs (https://api.slack.com/methods, /events).
NEEDS = {
    "chat.postMessage": {"chat:write"},
    "chat.update": {"chat:write"},
    "chat.startStream": {"chat:write"},
    "chat.appendStream": {"chat:write"},
    "chat.stopStream": {"chat:write"},
    "chat.postEphemeral": {"chat:write"},
    "chat.delete": {"chat:write"},
    "assistant.threads.setStatus": {"chat:write"},  # chat:write alone since 2026-03-05
    "conversations.replies": {"channels:history", "groups:history", "im:history", "mpim:history"},
    "conversations.history": {"im:history"},
    "users.info": {"users:read"},
    "files.download": {"files:read"},  # a file's url_private_download, with the bot token
    "auth.test": set(),
    "agents.sessions.setStatus": {"chat:write", "assistant:write"},  # an app declared as an agent has the latter
    "agents.sessions.rename": {"chat:write", "assistant:write"},
    "assistant.threads.setSuggestedPrompts": {"assistant:write"},
    "usergroups.users.list": {"usergroups:read"},  # a profile's user groups: who may ask
    "agent_session_stopped": set(),
    "assistant_thread_started": {"assistant:write"},
    "assistant_thread_context_changed": {"assistant:write"},
    "app_context_changed": set(),  # the agent view (features.agent_view) must be on
    "app_mention": {"app_mentions:read"},
    "message.im": {"im:history"},
    "message.channels": {"channels:history"},
    "message.groups": {"groups:history"},
    "message.mpim": {"mpim:history"},
}


def manifest() -> dict:
    return yaml.safe_load((ROOT / "manifest.yml").read_text())


def methods_called() -> set[str]:
    """Every Web API method named in the bot's code (calls name them as strings, directly or in constants)."""
    source = "\n".join(path.read_text() for path in (ROOT / "bot").rglob("*.py"))
    return set(re.findall(r'"((?:chat|conversations|users|usergroups\.users|files|assistant\.threads|agents\.sessions)\.[a-z][A-Za-z]+)"',
                          source))


def test_every_slack_call_goes_through_the_one_call_policy():
    for path in (ROOT / "bot").rglob("*.py"):
        if path.name == "calls.py":
            continue
        assert not re.search(r"\bclient\.(chat|conversations|users|reactions|views)_", path.read_text()), path


def test_the_scopes_cover_every_method_and_event_the_bot_uses():
    granted = set(manifest()["oauth_config"]["scopes"]["bot"])
    used = methods_called() | set(manifest()["settings"]["event_subscriptions"]["bot_events"])
    assert {"chat.postMessage", "chat.update", "conversations.replies", "conversations.history", "users.info",
            "chat.startStream", "chat.appendStream", "chat.stopStream", "assistant.threads.setStatus",
            "chat.postEphemeral"} <= used
    unknown = used - NEEDS.keys()
    assert not unknown, f"add what {unknown} needs to NEEDS"
    needed = set().union(*(NEEDS[name] for name in used))
    assert needed <= granted, f"missing scopes: {needed - granted}"
    assert granted <= needed, f"scopes granted but never used: {granted - needed}"
    assert granted == REQUIRED_SCOPES | {GROUP_SCOPE}  # what `python -m bot doctor` checks for (the last if needed)


def test_the_app_is_set_up_for_socket_mode_mentions_and_dms():
    app = manifest()
    assert app["settings"]["socket_mode_enabled"] is True
    assert set(app["settings"]["event_subscriptions"]["bot_events"]) == {
        "app_mention", "message.im", "agent_session_stopped", "message.channels", "message.groups", "message.mpim",
        "assistant_thread_started", "assistant_thread_context_changed", "app_context_changed"}
    assert app["features"]["agent_view"]["agent_description"]  # the agent messaging experience
    assert app["features"]["app_home"]["messages_tab_enabled"] is True
    assert app["features"]["app_home"]["messages_tab_read_only_enabled"] is False
    assert app["settings"]["interactivity"]["is_enabled"] is True  # the feedback buttons
