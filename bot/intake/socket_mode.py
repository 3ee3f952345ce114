"""Socket Mode, as Bolt's built-in handler does it, with one difference: an envelope whose JSON cannot be read
(nested past the parser's depth, or malformed) is acknowledged and dropped where it arrives. The SDK would
raise in its message thread, leave the envelope unacknowledged, and Slack would send it again."""

from __future__ import annotations

import json
import logging
import re

from slack_bolt import App
from slack_bolt.adapter.socket_mode import SocketModeHandler
from slack_sdk.socket_mode.builtin import SocketModeClient

from bot.jsontext import json_object

log = logging.getLogger(__name__)

# An envelope's id, at its top level (a string inside the payload has its quotes escaped, so never matches)
_ENVELOPE_ID = re.compile(r'"envelope_id"\s*:\s*"([A-Za-z0-9_.:-]{1,200})"')


class ScreenedSocketModeClient(SocketModeClient):
    def enqueue_message(self, message: str) -> None:
        if message.startswith("{") and json_object(message) is None:
            found = _ENVELOPE_ID.search(message)
            if found:
                self.send_message(json.dumps({"envelope_id": found.group(1)}))
            log.warning("acknowledged and skipped a Socket Mode message that could not be read as JSON "
                        "(%d characters)", len(message))
            return
        super().enqueue_message(message)


class ScreenedSocketModeHandler(SocketModeHandler):
    def __init__(self, app: App, app_token: str, *, concurrency: int) -> None:  # noqa: D107 (Bolt's, screened)
        self.app = app
        self.app_token = app_token
        self.client = ScreenedSocketModeClient(app_token=app_token, logger=app.logger, web_client=app.client,
                                               proxy=app.client.proxy, ping_interval=10, concurrency=concurrency)
        self.client.socket_mode_request_listeners.append(self.handle)  # type: ignore[arg-type]
