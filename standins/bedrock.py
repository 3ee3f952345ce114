"""A local Bedrock runtime: `POST /model/{id}/converse-stream` answered with real event-stream frames.

The frames are `application/vnd.amazon.eventstream` as AWS sends them (prelude with total and header
lengths and its CRC32, string headers, a JSON payload, the message CRC32), written with chunked transfer
encoding, so that unmodified boto3 parses them. The bot reaches it through boto3's standard
`AWS_ENDPOINT_URL_BEDROCK_RUNTIME`. Each request takes the next scripted `Reply`, else what `answer`
makes of the request, else the default one. Faults: an AWS error before the stream (`Reply.error`), one
inside it (`exception`), a dropped connection (`DROP`), a stream that goes silent without closing (`STALL`),
and an error page from something in between, a proxy or an endpoint, that is not AWS's (`Reply.not_aws`).

Prompt caching, as Bedrock does it: every request's cache points are recorded (`Request.cache_points`) and
checked (where they may stand, their type and TTL, at most 4 in all; a request that breaks a rule gets the
400 `ValidationException` Bedrock would give, and no scripted reply is used up). A model that does not take
them (`refuses_cache_points`) answers every request that carries one with Bedrock's refusal. Otherwise the
cache is simulated: the prefix up to each point (tools, system, messages, without the points) is kept for its
TTL from its last use, once it is at least `cache_min_tokens` long (by default the model's own minimum,
counting 4 characters a token); the metadata event then reports the longest prefix found as
`cacheReadInputTokens` and what the longest new one adds as `cacheWriteInputTokens`.

Tool use, as Bedrock streams and checks it: `tool_use` scripts a round in which the model asks for tools
(toolUse blocks whose input arrives as JSON text in pieces, then `stopReason` `tool_use`); every request's
tool turns are checked (`tool_problem`: each toolUse answered by its id in the next user turn, results alone
in their turn, an error result with content, no tool turn without `toolConfig`, tool names of Bedrock's
pattern) and a broken one refused with the 400 `ValidationException` and Bedrock's words. `Request.tools` and
`Request.tool_results` say what a request offered and answered.

Images and documents, as Bedrock takes them: the `image` and `document` blocks of the messages are decoded
(boto3 sends their bytes base64 in the JSON) and recorded (`Request.images`, `Request.documents`), and checked
as Bedrock and the Claude models behind it check them, each broken rule answered with the 400
`ValidationException` and Bedrock's own words: the formats (image png|jpeg|gif|webp, document
pdf|csv|doc|docx|xls|xlsx|html|txt|md), the document name (letters, digits, single spaces, hyphens, parentheses,
square brackets; at most 200 characters; no two alike in a request), at most 5 documents of at most 4.5 MB, at
most 20 images and documents together, an image at most 5 MB once base64 (3.75 MB of bytes), at most 8,000 px a
side (as its header says), and really an image of the format it is labelled with. A model without vision or document support (`refuse_files`:
True, "images" or "documents") refuses every request that carries the kind it lacks.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
import socket
import struct
import threading
import time
from dataclasses import dataclass, field
from typing import Callable
from urllib.parse import unquote

from standins.server import AwsHandler, LocalServer


def _header(name: str, value: str) -> bytes:
    name_bytes, value_bytes = name.encode(), value.encode()
    return bytes([len(name_bytes)]) + name_bytes + b"\x07" + struct.pack(">H", len(value_bytes)) + value_bytes


def frame(headers: dict[str, str], payload: dict) -> bytes:
    """One event-stream message."""
    header_bytes = b"".join(_header(name, value) for name, value in headers.items())
    body = json.dumps(payload).encode()
    total = 12 + len(header_bytes) + len(body) + 4
    prelude = struct.pack(">II", total, len(header_bytes))
    message = prelude + struct.pack(">I", binascii.crc32(prelude)) + header_bytes + body
    return message + struct.pack(">I", binascii.crc32(message))


def event(event_type: str, payload: dict) -> bytes:
    return frame({":event-type": event_type, ":content-type": "application/json", ":message-type": "event"}, payload)


def exception(code: str, message: str = "injected by the stand-in") -> bytes:
    """An error inside the stream, as Bedrock sends it (boto3 raises it as EventStreamError)."""
    return frame({":exception-type": code, ":content-type": "application/json", ":message-type": "exception"},
                 {"message": message})


def decode(data: bytes) -> tuple[dict[str, str], dict]:
    """The headers and payload of one event-stream message written by `frame`."""
    total, header_length = struct.unpack(">II", data[:8])
    headers, at, end = {}, 12, 12 + header_length
    while at < end:
        name_length = data[at]
        name = data[at + 1:at + 1 + name_length].decode()
        at += 1 + name_length + 1  # the value type: always 7 (string) here
        value_length = struct.unpack(">H", data[at:at + 2])[0]
        headers[name] = data[at + 2:at + 2 + value_length].decode()
        at += 2 + value_length
    return headers, json.loads(data[end:total - 4])


DROP = b""  # a step that drops the connection, with no end to the chunked body
STALL = b"stall"  # a step that sends nothing more and keeps the connection open until the bot closes it

NOT_AWS_PAGE = {
    500: (b"Internal Server Error", "text/plain"),
    502: (b"<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>502 Bad Gateway</h1>"
          b"</center>\r\n</body>\r\n</html>\r\n", "text/html"),
    503: (b"<!DOCTYPE html><html><head><title>Service Unavailable</title></head><body><p>The proxy could not "
          b"reach the service.</p></body></html>", "text/html; charset=utf-8"),
    504: (b"upstream request timeout", "text/plain"),
}


@dataclass
class Reply:
    """What the stand-in answers to one request: (seconds to wait first, frame) steps streamed with status
    200, or an error status before any stream."""

    steps: list[tuple[float, bytes]] = field(default_factory=list)
    status: int = 200
    error_code: str = ""
    error_message: str = ""
    error_body: bytes | None = None  # an error page that is not AWS's: no x-amzn-ErrorType, no JSON
    content_type: str = "application/json"

    @classmethod
    def error(cls, status: int, code: str, message: str = "injected by the stand-in") -> "Reply":
        """An error before the stream, as Bedrock answers it (status, x-amzn-ErrorType, JSON message)."""
        return cls(status=status, error_code=code, error_message=message)

    @classmethod
    def not_aws(cls, status: int, body: bytes | None = None, content_type: str = "text/html") -> "Reply":
        """An error before the stream from something in between (a proxy, a VPC endpoint, a load balancer):
        `status` with an HTML or plain-text page and no AWS error type. Script it N times for N requests."""
        default_body, default_type = NOT_AWS_PAGE.get(status, (f"{status} error".encode(), "text/plain"))
        return cls(status=status, error_body=default_body if body is None else body,
                   content_type=default_type if body is None else content_type)

    def cut(self, after_chunks: int, then: bytes = DROP, delay: float = 0.0) -> "Reply":
        """The same reply up to `after_chunks` text chunks, then `then` (an exception frame, DROP or STALL)."""
        return Reply(self.steps[: 1 + after_chunks] + [(delay, then)])

    @classmethod
    def text(cls, text: str, *, chunk: int = 5, delay: float = 0.0, stop_reason: str | None = "end_turn",
             first_delay: float = 0.0) -> "Reply":
        """`text` in chunks of `chunk` characters, `delay` seconds apart, then messageStop (unless None)."""
        pieces = [text[start:start + chunk] for start in range(0, len(text), chunk)]
        return cls.deltas(pieces, delay=delay, stop_reason=stop_reason, first_delay=first_delay)

    @classmethod
    def deltas(cls, pieces: list[str], *, delay: float = 0.0, stop_reason: str | None = "end_turn",
               first_delay: float = 0.0) -> "Reply":
        """One contentBlockDelta per piece, `delay` seconds apart (the first after `first_delay`), then
        messageStop (unless None). Step k + 1 is piece k."""
        text = "".join(pieces)
        steps = [(first_delay, event("messageStart", {"role": "assistant"}))]
        for piece in pieces:
            steps.append((delay, event("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": piece}})))
        steps.append((0.0, event("contentBlockStop", {"contentBlockIndex": 0})))
        if stop_reason is not None:
            steps.append((0.0, event("messageStop", {"stopReason": stop_reason})))
            steps.append((0.0, event("metadata", {
                "usage": {"inputTokens": 11, "outputTokens": len(text) // 4, "totalTokens": 11 + len(text) // 4},
                "metrics": {"latencyMs": 42}})))
        return cls(steps)


def tool_use(calls: list[tuple[str, str, dict | str]], *, text: str = "", delay: float = 0.0,
             piece: int = 7) -> Reply:
    """The model asks for tools: optional `text` first, then one toolUse block per (id, name, input), its input
    as JSON text in pieces of `piece` characters, as Bedrock streams it (an input given as a string is sent as
    it is: what a model that writes broken JSON sends); then messageStop `tool_use`."""
    steps = [(0.0, event("messageStart", {"role": "assistant"}))]
    index = 0
    if text:
        steps.append((delay, event("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": text}})))
        steps.append((0.0, event("contentBlockStop", {"contentBlockIndex": 0})))
        index = 1
    for number, (tool_use_id, name, tool_input) in enumerate(calls, start=index):
        steps.append((delay, event("contentBlockStart", {
            "contentBlockIndex": number, "start": {"toolUse": {"toolUseId": tool_use_id, "name": name}}})))
        data = tool_input if isinstance(tool_input, str) else json.dumps(tool_input)
        for at in range(0, len(data), piece):
            steps.append((0.0, event("contentBlockDelta", {
                "contentBlockIndex": number, "delta": {"toolUse": {"input": data[at:at + piece]}}})))
        steps.append((0.0, event("contentBlockStop", {"contentBlockIndex": number})))
    steps.append((0.0, event("messageStop", {"stopReason": "tool_use"})))
    steps.append((0.0, event("metadata", {"usage": {"inputTokens": 11, "outputTokens": 9, "totalTokens": 20},
                                          "metrics": {"latencyMs": 42}})))
    return Reply(steps)


# Tool use, as Bedrock checks it (its words, as people have quoted them from live calls: strands-agents
# harness-sdk#1435 and #1223, aws-samples/sample-multi-agent-orchestration-chat-on-agentcore#15; the last two
# messages below are the stand-in's own, where no quote was found).
TOOL_NAME = re.compile(r"[a-zA-Z0-9_-]{1,64}")
NO_TOOL_CONFIG = "The toolConfig field must be defined when using toolUse and toolResult content blocks."
MIXED_TOOL_TURN = "messages.{n}.content: Conversation blocks and tool result blocks cannot be provided in the same turn"
TOO_MANY_RESULTS = ("The number of toolResult blocks at messages.{n}.content exceeds the number of toolUse blocks of "
                    "previous turn.")
MISSING_RESULTS = "Expected toolResult blocks at messages.{n}.content for the following Ids: {ids}"
EMPTY_ERROR_RESULT = "The content field at messages.{n}.content.{k}.toolResult cannot be empty when status value is error."
UNKNOWN_RESULT = "messages.{n}.content.{k}.toolResult.toolUseId: {id} does not answer a toolUse of the previous turn."
BAD_TOOL_NAME = ("1 validation error detected: Value at 'toolConfig.tools.{k}.member.toolSpec.name' failed to satisfy "
                 "constraint: Member must satisfy regular expression pattern: [a-zA-Z0-9_-]+")


def tool_problem(body: dict) -> str | None:
    """What Bedrock would refuse in a request's tools and its toolUse / toolResult turns, if anything."""
    tools = (body.get("toolConfig") or {}).get("tools") or []
    for k, tool in enumerate(tools):
        spec = tool.get("toolSpec")
        if spec is not None and not TOOL_NAME.fullmatch(spec.get("name", "")):
            return BAD_TOOL_NAME.format(k=k + 1)
    messages = body.get("messages") or []
    blocks = [block for message in messages for block in message.get("content") or []]
    if any("toolUse" in block or "toolResult" in block for block in blocks) and not tools:
        return NO_TOOL_CONFIG
    asked: list[str] = []  # the toolUse ids of the previous (assistant) turn
    for n, message in enumerate(messages):
        content = [block for block in message.get("content") or [] if "cachePoint" not in block]
        if message.get("role") != "user":
            asked = [block["toolUse"].get("toolUseId") for block in content if "toolUse" in block]
            continue
        results = [(k, block["toolResult"]) for k, block in enumerate(content) if "toolResult" in block]
        if results and len(results) != len(content):
            return MIXED_TOOL_TURN.format(n=n)
        if len(results) > len(asked):
            return TOO_MANY_RESULTS.format(n=n)
        for k, result in results:
            if result.get("toolUseId") not in asked:
                return UNKNOWN_RESULT.format(n=n, k=k, id=result.get("toolUseId"))
            if result.get("status") == "error" and not result.get("content"):
                return EMPTY_ERROR_RESULT.format(n=n, k=k)
        missing = [tool_use_id for tool_use_id in asked if tool_use_id not in {r.get("toolUseId") for _, r in results}]
        if missing:
            return MISSING_RESULTS.format(n=n, ids=", ".join(missing))
        asked = []
    return None


GUARDRAIL_ID = re.compile(r"[a-z0-9]+|arn:aws(-[^:]+)?:bedrock:[a-z0-9-]{1,20}:[0-9]{12}:guardrail/[a-z0-9]+")
GUARDRAIL_VERSION = re.compile(r"[1-9][0-9]{0,7}|DRAFT")
GUARDRAIL_MESSAGE = "Sorry, the model cannot answer this request."  # a guardrail's default blocked message

CACHE_REFUSAL = ("You invoked an unsupported model or your request did not allow prompt caching. See the "
                 "documentation for more information.")  # Bedrock's words to a request with cache points
MAX_CACHE_POINTS = 4
CACHE_TTLS = {"5m": 300.0, "1h": 3600.0}


def cache_min_tokens(model_id: str) -> int:
    """The shortest prefix a model caches (AWS user guide): 4,096 tokens for Haiku 4.5 and Opus 4.5/4.6, 2,048
    for 3.5 Haiku, 1,024 for the rest."""
    if any(name in model_id for name in ("claude-haiku-4-5", "claude-opus-4-5", "claude-opus-4-6")):
        return 4096
    return 2048 if "claude-3-5-haiku" in model_id else 1024


# Images and documents. Limits: the AWS user guide (Converse API restrictions) and botocore's bedrock-runtime
# model (ImageFormat, DocumentFormat, DocumentBlockNameString max 200). The messages are Bedrock's as people
# have quoted them from live calls, cited one by one.
IMAGE_FORMATS = ("png", "jpeg", "gif", "webp")
DOCUMENT_FORMATS = ("pdf", "csv", "doc", "docx", "xls", "xlsx", "html", "txt", "md")
MAX_IMAGE_BASE64 = 5 * 1024 * 1024  # Claude's 5 MB counts the base64 text: 3.75 MB of image bytes
MAX_IMAGE_SIDE = 8000
MAX_DOCUMENTS = 5
MAX_DOCUMENT_BYTES = 4.5 * 1024 * 1024
MAX_IMAGES_AND_DOCUMENTS = 20
MAX_DOCUMENT_NAME = 200
# The documented characters, ASCII only, never two spaces in a row (live reports: non-ASCII letters, tabs and
# a full-width space are refused, a leading or trailing space passes; an underscore has been seen to pass, but
# it is not documented, so the stand-in refuses it).
DOCUMENT_NAME = re.compile(r"(?!.*  )[A-Za-z0-9 ()\[\]-]+")
MODEL_ERRORS = "The model returned the following errors: "  # how Bedrock prefixes what the model refused
# simonw/llm-bedrock#8, vercel/ai#20365, karthink/gptel#1427 (ConverseStream, Nova and Claude alike):
DOCUMENT_NAME_REFUSAL = ("The document file name can only contain alphanumeric characters, whitespace characters, "
                         "hyphens, parentheses, and square brackets. The name can't contain more than one "
                         "consecutive whitespace character. Check that the file name conforms to these "
                         "restrictions and retry your request.")
# aws-samples/generative-ai-use-cases#1685 (production logs):
DUPLICATE_DOCUMENT_NAMES = "Messages can't contain duplicate document names."
TOO_MANY_DOCUMENTS = "You can't include more than 5 documents in a request."
# aws-samples/generative-ai-use-cases#1334 (docx, xlsx, csv, txt over 4.5 MB):
DOCUMENT_TOO_BIG = "The maximum document size is 4.5 MB."
# A model without vision: earendil-works/pi#8960 ("Validation error: This model doesn't support the image field
# for user messages. Remove image and try again.", a Bedrock model given a user image). For documents the first
# sentence is quoted in a public Bedrock project's notes on a model that refuses them; the second follows the
# image refusal's pattern.
IMAGE_REFUSAL = "This model doesn't support the image field for user messages. Remove image and try again."
DOCUMENT_REFUSAL = "This model doesn't support the document field for user messages. Remove document and try again."


def _enum_refusal(path: str, kind: str, formats: tuple[str, ...]) -> str:
    """Bedrock's refusal of a format outside the enum; it does not repeat the value (as quoted in
    NousResearch/hermes-agent#55429 and strands-agents/harness-sdk#3607, set sorted)."""
    return (f"1 validation error detected: Value at '{_aws_path(path)}.{kind}.format' failed to satisfy "
            f"constraint: Member must satisfy enum value set: [{', '.join(sorted(formats))}]")


def sniff_image(data: bytes) -> tuple[str | None, tuple[int, int] | None]:
    """The format an image's bytes are in (png, jpeg, gif, webp, or None) and its (width, height) when its
    header says it."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png", struct.unpack(">II", data[16:24]) if len(data) >= 24 else None
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "gif", struct.unpack("<HH", data[6:10]) if len(data) >= 10 else None
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        chunk = data[12:16]
        if chunk == b"VP8X" and len(data) >= 30:
            return "webp", (1 + int.from_bytes(data[24:27], "little"), 1 + int.from_bytes(data[27:30], "little"))
        if chunk == b"VP8L" and len(data) >= 25:
            bits = int.from_bytes(data[21:25], "little")
            return "webp", (1 + (bits & 0x3FFF), 1 + ((bits >> 14) & 0x3FFF))
        if chunk == b"VP8 " and len(data) >= 30:
            width, height = struct.unpack("<HH", data[26:30])
            return "webp", (width & 0x3FFF, height & 0x3FFF)
        return "webp", None
    if data.startswith(b"\xff\xd8\xff"):
        at = 2
        while at + 9 <= len(data) and data[at] == 0xFF:
            marker, length = data[at + 1], struct.unpack(">H", data[at + 2:at + 4])[0]
            if marker in (0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF):
                height, width = struct.unpack(">HH", data[at + 5:at + 9])
                return "jpeg", (width, height)
            at += 2 + length
        return "jpeg", None
    return None, None


def _aws_path(path: str) -> str:
    """A path as AWS's validation messages spell it: 1-based, each list item a `member`."""
    return ".".join(f"{int(part) + 1}.member" if part.isdigit() else part for part in path.split("."))


@dataclass
class Request:
    model_id: str
    body: dict
    at: float
    cache_points: list[str] = field(default_factory=list)  # where each stood: "system.1", "messages.2.content.1"
    cache_read: int = 0  # tokens the simulated cache gave back
    cache_write: int = 0  # tokens it kept for later
    frames_sent: int = 0
    sent_at: list[float] = field(default_factory=list)  # when each frame was sent (taken just before writing it)
    disconnected: bool = False  # the bot closed the stream before it ended
    ended_at: float | None = None
    images: list[tuple[str, bytes]] = field(default_factory=list)  # (format, bytes) of every image block, in order
    documents: list[tuple[str, str, bytes]] = field(default_factory=list)  # (format, name, bytes) likewise

    @property
    def messages(self) -> list[dict]:
        """The conversation the model was asked, its cache points aside."""
        return [{**message, "content": [block for block in message.get("content", []) if "cachePoint" not in block]}
                for message in self.body.get("messages", [])]

    @property
    def tool_results(self) -> list[dict]:
        """The toolResult blocks of the last user turn (the answers to the tools the model asked for)."""
        last = self.messages[-1] if self.messages else {}
        return [block["toolResult"] for block in last.get("content", []) if "toolResult" in block]

    @property
    def tools(self) -> list[str]:
        """The names of the tools the request offered the model."""
        return [tool["toolSpec"]["name"] for tool in (self.body.get("toolConfig") or {}).get("tools") or []
                if "toolSpec" in tool]

    @property
    def system(self) -> list[dict]:
        """The system prompt, its cache points aside."""
        return [block for block in self.body.get("system", []) if "cachePoint" not in block]


class FakeBedrock:
    def __init__(self) -> None:
        self.requests: list[Request] = []
        self.replies: list[Reply] = []
        self.default = Reply.text("Hello from the model.")
        self.answer: Callable[[Request], Reply] | None = None  # the reply for a request, when none is scripted
        self.refuses_cache_points = False  # a model that does not take prompt caching
        self.refuse_files: bool | str = False  # a model without vision/documents: True, "images" or "documents"
        self.guardrail_blocks: set[str] = set()  # words the guardrail stops, in a question or in checked content
        self.guardrail_checks: list[dict] = []  # ApplyGuardrail requests: {"guardrail", "version", "body", "action"}
        self.cache_min_tokens: int | None = None  # None: the model's own minimum (`cache_min_tokens`)
        self.clock: Callable[[], float] = time.monotonic
        self.cache: dict[str, float] = {}  # a cached prefix's key → when it expires
        self.lock = threading.Lock()
        self._stopped = threading.Event()
        self._http = LocalServer(("127.0.0.1", 0), self._handler_class())
        self._thread = threading.Thread(target=self._http.serve_forever, args=(0.05,), daemon=True)

    def start(self) -> "FakeBedrock":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopped.set()  # ends stalled streams
        self._http.shutdown()
        self._http.server_close()

    @property
    def endpoint_url(self) -> str:
        return f"http://127.0.0.1:{self._http.server_address[1]}"

    def script(self, *replies: Reply) -> None:
        with self.lock:
            self.replies.extend(replies)

    # -- prompt caching ----------------------------------------------------------------------------------

    def _cache_problem(self, request: Request) -> str | None:
        """Record the request's cache points; what Bedrock would refuse in them, if anything."""
        body = request.body
        places = [("toolConfig.tools", (body.get("toolConfig") or {}).get("tools") or []),
                  ("system", body.get("system") or [])]
        places += [(f"messages.{m}.content", message.get("content") or [])
                   for m, message in enumerate(body.get("messages") or [])]
        for where, blocks in places:
            for index, block in enumerate(blocks):
                if "cachePoint" not in block:
                    continue
                path = f"{where}.{index}"
                request.cache_points.append(path)
                point = block["cachePoint"]
                aws_path = _aws_path(path)
                if len(block) != 1:
                    return f"{path}: a content block may set only one of its members, not {', '.join(sorted(block))}."
                if not isinstance(point, dict) or point.get("type") != "default":
                    value = point.get("type") if isinstance(point, dict) else point
                    return (f"1 validation error detected: Value '{value}' at '{aws_path}.cachePoint.type' failed "
                            "to satisfy constraint: Member must satisfy enum value set: [default]")
                if "ttl" in point and point["ttl"] not in CACHE_TTLS:
                    return (f"1 validation error detected: Value '{point['ttl']}' at '{aws_path}.cachePoint.ttl' "
                            "failed to satisfy constraint: Member must satisfy enum value set: [5m, 1h]")
                if index == 0 or "cachePoint" in blocks[index - 1]:
                    return f"A cache point must follow the content it caches; {path} follows none."
        if len(request.cache_points) > MAX_CACHE_POINTS:
            return (f"The model returned the following errors: A maximum of {MAX_CACHE_POINTS} blocks with "
                    f"cache_control may be provided. Found {len(request.cache_points)}.")
        return None

    # -- images and documents ----------------------------------------------------------------------------

    def _file_problem(self, request: Request) -> str | None:
        """Record the request's images and documents; what Bedrock would refuse in them, if anything: first what
        Bedrock itself checks, then what the model does."""
        problem, model_problem = None, None
        names: set[str] = set()
        for m, message in enumerate(request.body.get("messages") or []):
            for b, block in enumerate(message.get("content") or []):
                path = f"messages.{m}.content.{b}"
                for kind in ("image", "document"):
                    if kind not in block:
                        continue
                    item = block[kind] or {}
                    encoded = (item.get("source") or {}).get("bytes")
                    data = base64.b64decode(encoded) if isinstance(encoded, str) else b""
                    formats = IMAGE_FORMATS if kind == "image" else DOCUMENT_FORMATS
                    if kind == "image":
                        request.images.append((item.get("format"), data))
                    else:
                        request.documents.append((item.get("format"), item.get("name"), data))
                    if problem is None and "format" in item and item["format"] not in formats:
                        problem = _enum_refusal(path, kind, formats)
                    if kind == "document" and problem is None:
                        problem = self._document_problem(path, item.get("name") or "", data, names)
                    if kind == "image" and model_problem is None and isinstance(encoded, str):
                        model_problem = self._image_problem(path, item.get("format"), encoded, data)
        if problem is None and len(request.documents) > MAX_DOCUMENTS:
            problem = TOO_MANY_DOCUMENTS
        refused = {True: ("images", "documents")}.get(self.refuse_files, (self.refuse_files,))
        if problem is None and request.images and "images" in refused:
            problem = IMAGE_REFUSAL
        if problem is None and request.documents and "documents" in refused:
            problem = DOCUMENT_REFUSAL
        if problem is None and len(request.images) + len(request.documents) > MAX_IMAGES_AND_DOCUMENTS:
            # cline/cline#1844, boto/boto3#4632 ("19 + 5 > 20": images and documents count together)
            model_problem = (f"too many images and documents: {len(request.images)} + {len(request.documents)} "
                             f"> {MAX_IMAGES_AND_DOCUMENTS}")
        if problem is None and model_problem is not None:
            problem = MODEL_ERRORS + model_problem
        return problem

    @staticmethod
    def _document_problem(path: str, name: str, data: bytes, names: set[str]) -> str | None:
        if len(name) > MAX_DOCUMENT_NAME:
            return (f"1 validation error detected: Value at '{_aws_path(path)}.document.name' failed to satisfy "
                    f"constraint: Member must have length less than or equal to {MAX_DOCUMENT_NAME}")
        if not DOCUMENT_NAME.fullmatch(name):
            return DOCUMENT_NAME_REFUSAL
        if name in names:
            return DUPLICATE_DOCUMENT_NAMES
        names.add(name)
        if len(data) > MAX_DOCUMENT_BYTES:
            return DOCUMENT_TOO_BIG
        return None

    @staticmethod
    def _image_problem(path: str, declared: str | None, encoded: str, data: bytes) -> str | None:
        """What Claude refuses in one image (Bedrock words its path 0-based, the source as `source.bytes`)."""
        where = f"{path}.image.source.bytes"
        if len(encoded) > MAX_IMAGE_BASE64:
            # aws/aws-sdk-js-v3#6785, aws-solutions-library-samples/…-on-aws#778: the base64 length is counted
            return f"{where}: image exceeds 5 MB maximum: {len(encoded)} bytes > {MAX_IMAGE_BASE64} bytes"
        actual, size = sniff_image(data)
        if actual is None:
            return "Could not process image"  # discourse/discourse#39880 (bytes that are no image)
        if declared in IMAGE_FORMATS and actual != declared:
            # aws-samples/amazon-bedrock-client-for-mac#130
            return (f"{where}: The image was specified using the image/{declared} media type, but the image "
                    f"appears to be a image/{actual} image")
        if size is not None and max(size) > MAX_IMAGE_SIDE:
            # Anthropic's wording (quoted from its API and through Bedrock), with Bedrock's path
            return f"{where}: At least one of the image dimensions exceed max allowed size: {MAX_IMAGE_SIDE} pixels"
        return None

    def _use_cache(self, request: Request) -> None:
        """The simulated cache: what this request reads back, and what it keeps for later."""
        body, items, points = request.body, [], []
        sections = [((body.get("toolConfig") or {}).get("tools") or [], "tool"), (body.get("system") or [], "system")]
        sections += [(message.get("content") or [], message.get("role", "")) for message in body.get("messages") or []]
        for blocks, label in sections:
            items.append(label)  # where each message (or section) starts, and whose it is
            for block in blocks:
                if "cachePoint" in block:
                    points.append((len(items), CACHE_TTLS[block["cachePoint"].get("ttl", "5m")]))
                else:
                    items.append(block.get("text") or json.dumps(block, sort_keys=True))
        least = self.cache_min_tokens if self.cache_min_tokens is not None else cache_min_tokens(request.model_id)
        now = self.clock()
        with self.lock:
            read, longest = 0, 0
            for end, ttl in points:
                key = hashlib.sha256("\x00".join([request.model_id, *items[:end]]).encode()).hexdigest()
                tokens = sum(len(item) for item in items[:end]) // 4
                if self.cache.get(key, 0.0) > now:
                    read = tokens
                if tokens >= least:
                    self.cache[key] = now + ttl  # written, or its life renewed by this use
                    longest = max(longest, tokens)
            request.cache_read, request.cache_write = read, max(longest - read, 0)

    def _with_cache_usage(self, data: bytes, request: Request) -> bytes:
        """A metadata event with this request's cache figures added (a request without cache points has none)."""
        if not request.cache_points or b"metadata" not in data[:64]:
            return data
        headers, payload = decode(data)
        if headers.get(":event-type") != "metadata":
            return data
        usage = dict(payload.get("usage") or {})
        usage.update(cacheReadInputTokens=request.cache_read, cacheWriteInputTokens=request.cache_write)
        usage["totalTokens"] = usage.get("totalTokens", 0) + request.cache_read + request.cache_write
        return event("metadata", {**payload, "usage": usage})

    def _guardrail_problem(self, body: dict) -> str | None:
        """What Bedrock would refuse in a request's guardrailConfig (botocore's patterns), if anything."""
        config = body.get("guardrailConfig")
        if config is None:
            return None
        if not GUARDRAIL_ID.fullmatch(str(config.get("guardrailIdentifier", ""))):
            return "1 validation error detected: Value at 'guardrailConfig.guardrailIdentifier' failed to satisfy constraint"
        if not GUARDRAIL_VERSION.fullmatch(str(config.get("guardrailVersion", ""))):
            return "1 validation error detected: Value at 'guardrailConfig.guardrailVersion' failed to satisfy constraint"
        if config.get("streamProcessingMode", "sync") not in ("sync", "async"):
            return "1 validation error detected: Value at 'guardrailConfig.streamProcessingMode' failed to satisfy constraint"
        return None

    def _blocked(self, texts: list[str]) -> bool:
        return any(word.lower() in text.lower() for word in self.guardrail_blocks for text in texts)

    def apply_guardrail(self, guardrail: str, version: str, body: dict) -> dict:
        """ApplyGuardrail: intervenes where a blocked word is in the content."""
        texts = [str((item.get("text") or {}).get("text", "")) for item in body.get("content") or []]
        action = "GUARDRAIL_INTERVENED" if self._blocked(texts) else "NONE"
        with self.lock:
            self.guardrail_checks.append({"guardrail": guardrail, "version": version, "body": body, "action": action})
        return {"action": action, "outputs": [{"text": GUARDRAIL_MESSAGE}] if action != "NONE" else [],
                "assessments": [{}] if action != "NONE" else [],
                "usage": {"topicPolicyUnits": 0, "contentPolicyUnits": 1, "wordPolicyUnits": 1,
                          "sensitiveInformationPolicyUnits": 0, "sensitiveInformationPolicyFreeUnits": 0,
                          "contextualGroundingPolicyUnits": 0}}

    def _next_reply(self, request: Request) -> Reply:
        body = request.body
        question = [block.get("text", "") for block in (request.messages[-1:] or [{}])[0].get("content", [])
                    if "text" in block]
        if body.get("guardrailConfig") and self._blocked(question):  # the guardrail stops the question itself
            return Reply.text(GUARDRAIL_MESSAGE, stop_reason="guardrail_intervened")
        with self.lock:
            if self.replies:
                return self.replies.pop(0)
        return self.answer(request) if self.answer else self.default

    def _handler_class(self):
        bedrock = self

        class Handler(AwsHandler):
            def do_POST(self) -> None:
                body = self.read_json()
                parts = self.path.split("/")
                if len(parts) == 6 and parts[1] == "guardrail" and parts[3] == "version" and parts[5] == "apply":
                    self.send_json(200, bedrock.apply_guardrail(unquote(parts[2]), unquote(parts[4]), body))
                    return
                if len(parts) != 4 or parts[1] != "model" or parts[3] != "converse-stream":
                    self.send_error(404)
                    return
                request = Request(unquote(parts[2]), body, time.monotonic())
                with bedrock.lock:
                    bedrock.requests.append(request)
                problem = bedrock._cache_problem(request)
                if problem is None and request.cache_points and bedrock.refuses_cache_points:
                    problem = CACHE_REFUSAL
                file_problem = bedrock._file_problem(request)  # recorded in any case
                problem = problem or file_problem or tool_problem(request.body) or bedrock._guardrail_problem(
                    request.body)
                if problem is not None:  # refused as Bedrock would, before any scripted reply is used
                    self._error(Reply.error(400, "ValidationException", problem))
                    request.ended_at = time.monotonic()
                    return
                if request.cache_points:
                    bedrock._use_cache(request)
                reply = bedrock._next_reply(request)
                if reply.status != 200:
                    self._error(reply)
                else:
                    self._stream(reply, request)
                request.ended_at = time.monotonic()

            def _error(self, reply: Reply) -> None:
                if reply.error_body is not None:
                    self.send_response(reply.status)
                    self.send_header("Content-Type", reply.content_type)
                    self.send_header("Content-Length", str(len(reply.error_body)))
                    self.end_headers()
                    self.wfile.write(reply.error_body)
                    return
                self.send_aws_error(reply.status, reply.error_code, reply.error_message)

            def _stream(self, reply: Reply, request: Request) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "application/vnd.amazon.eventstream")
                self.send_header("Transfer-Encoding", "chunked")
                self.send_header("x-amzn-RequestId", "standin-request")
                self.end_headers()
                try:
                    for wait, data in reply.steps:
                        if wait:
                            time.sleep(wait)
                        if data == DROP:
                            self.close_connection = True
                            self.connection.shutdown(socket.SHUT_RDWR)
                            return
                        if data == STALL:
                            self._stall(request)
                            return
                        data = bedrock._with_cache_usage(data, request)
                        request.sent_at.append(time.monotonic())  # before the bot can read it, and act on it
                        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
                        self.wfile.flush()
                        request.frames_sent += 1
                    self.wfile.write(b"0\r\n\r\n")
                    self.wfile.flush()
                except OSError:  # the bot closed the stream
                    request.disconnected = True
                    self.close_connection = True

            def _stall(self, request: Request) -> None:
                """Send nothing more, and keep the connection open until the bot closes it."""
                self.close_connection = True
                self.connection.settimeout(0.05)
                while not bedrock._stopped.is_set():
                    try:
                        if self.connection.recv(1):
                            continue
                    except socket.timeout:
                        continue
                    except OSError:
                        pass
                    request.disconnected = True  # the bot closed its end
                    return

        return Handler
