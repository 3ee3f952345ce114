"""The conversation becomes a model stream: Bedrock `converse_stream`, as plain events.

This is the only module that talks to Bedrock. A `ModelStream` yields `TextDelta`s as the model writes, a
`ToolUse` for each tool it asks for (given `tools`: see `bot.tools`), `Finished` when Bedrock says why it
stopped, and `Usage` with the token counts. Every failure is raised as a
`ModelError` of some kind (see `errors`); a stream that ends without `messageStop` is one
(`ENDED_EARLY`), so a cut answer is never mistaken for a whole one.

One retry policy (tenacity) covers opening the stream and reading it up to the first text: throttling, a
service hiccup, a dropped connection or a stream that breaks off before any text are retried with
exponential backoff and jitter, within a number of attempts and a time bound. Once text has arrived
nothing is retried (the person has seen it). botocore's own retries are turned off so the two never
multiply, and its read timeout bounds the longest silence between two chunks. `close()` (the deadline, a
shutdown, a deleted reply) does not wait for that timeout: it cuts a read in progress short.

Prompt caching (see `caching`): where it is on, each request carries cache points. If Bedrock refuses a
request that carried them in a way they may explain (`errors.may_refuse_cache_points`), the same policy tries
once more at once, without them and outside its bounds; if that try is accepted the model is taken not to
take cache points, and none are sent again for the life of the process (one WARNING says so, and what to do).
Images and documents go the same way (`errors.may_refuse_files`): a model without vision answers the text,
the stream says it dropped the files, and none are sent to that model again.
"""

from __future__ import annotations

import json
import logging
import threading
from dataclasses import dataclass, replace
from typing import Any, Iterator, Union

import boto3
from botocore.config import Config
from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_delay, wait_random_exponential

from bot.model.caching import prompt_cache_wanted, with_cache_points
from bot.model.errors import (ModelError, StreamEndedEarly, code_of, is_transient, may_refuse_cache_points,
                              may_refuse_files, refused_file)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TextDelta:
    text: str


@dataclass(frozen=True)
class ToolUse:
    """The model asks for a tool: `input` is None when what it wrote is not a JSON object."""

    id: str
    name: str
    input: dict | None


@dataclass(frozen=True)
class Finished:
    stop_reason: str


@dataclass(frozen=True)
class Usage:
    input_tokens: int
    output_tokens: int
    cache_read_tokens: int = 0  # input read back from the prompt cache
    cache_write_tokens: int = 0  # input written to it, for a later request to read


ModelEvent = Union[TextDelta, ToolUse, Finished, Usage]


DEFAULT_MODEL_ID = "global.anthropic.claude-haiku-4-5-20251001-v1:0"
DEFAULT_SYSTEM_PROMPT = (
    "You are a helpful assistant answering in a Slack workspace. Answer clearly and concisely. "
    "Use Markdown sparingly: short paragraphs, lists and code blocks where they help."
)


@dataclass(frozen=True)
class ModelSettings:
    """The model and how it is called (BEDROCK_*, and AWS_REGION; credentials come from boto3's own chain)."""

    model_id: str = DEFAULT_MODEL_ID
    system_prompt: str = DEFAULT_SYSTEM_PROMPT
    max_tokens: int = 2048
    temperature: float = 0.5
    prompt_cache: str = "auto"  # auto: on for the model families known to take cache points | on | off
    read_timeout_seconds: float = 60.0  # the longest silence between two chunks of the stream
    retry_attempts: int = 4
    retry_max_seconds: float = 30.0
    retry_base_seconds: float = 0.5
    aws_region: str | None = None  # None: boto3's own chain decides (AWS_DEFAULT_REGION, the profile)
    guardrail_id: str = ""  # a Bedrock guardrail on every answer and on tool results ("": none)
    guardrail_version: str = "DRAFT"
    guardrail_stream: str = "sync"  # sync: text shows only once the guardrail passed it | async: at once


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 4
    max_seconds: float = 30.0
    base_seconds: float = 0.5


def create_bedrock_client(settings: ModelSettings, streams_at_once: int = 10):
    """A `bedrock-runtime` client from boto3's standard chain (region, credentials, endpoint), with a
    connection for each of `streams_at_once` model streams."""
    config = Config(
        connect_timeout=10,
        read_timeout=settings.read_timeout_seconds,
        retries={"total_max_attempts": 1, "mode": "standard"},  # our policy is the only one
        max_pool_connections=max(10, streams_at_once),
        user_agent_extra="bedrock-slack-bot",
    )
    return boto3.client("bedrock-runtime", region_name=settings.aws_region, config=config)


class BedrockModel:
    def __init__(self, client, *, model_id: str, system_prompt: str, max_tokens: int, temperature: float,
                 retry: RetryPolicy = RetryPolicy(), prompt_cache: bool = False,
                 guardrail: tuple[str, str, str] | None = None) -> None:
        """`guardrail`: (id, version, stream processing mode) of a Bedrock guardrail, or None."""
        self._client = client
        self._guardrail = guardrail
        self.model_id = model_id
        self._system_prompt = system_prompt
        self._max_tokens = max_tokens
        self._temperature = temperature
        self.retry = retry
        self._prompt_cache = prompt_cache
        self._cache_refused = False  # learnt once for the process: the model does not take cache points
        self._files_refused = False  # likewise: it takes no images or documents
        self._lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: ModelSettings, client=None, streams_at_once: int = 10) -> "BedrockModel":
        return cls(
            client if client is not None else create_bedrock_client(settings, streams_at_once),
            model_id=settings.model_id,
            system_prompt=settings.system_prompt,
            max_tokens=settings.max_tokens,
            temperature=settings.temperature,
            retry=RetryPolicy(settings.retry_attempts, settings.retry_max_seconds, settings.retry_base_seconds),
            prompt_cache=prompt_cache_wanted(settings.prompt_cache, settings.model_id),
            guardrail=(settings.guardrail_id, settings.guardrail_version, settings.guardrail_stream)
            if settings.guardrail_id else None,
        )

    @property
    def sends_cache_points(self) -> bool:
        return self._prompt_cache and not self._cache_refused

    @property
    def takes_files(self) -> bool:
        """Not known to refuse images and documents."""
        return not self._files_refused

    def files_refused(self, error: BaseException) -> None:
        """A request with images or documents was refused and the same one without them accepted."""
        with self._lock:
            if self._files_refused:
                return
            self._files_refused = True
        log.warning("Bedrock model %s takes no images or documents (%s): from now on files shared with a question "
                    "are not sent to it, and the answer says so. To read them, choose a model that does (see the "
                    "Bedrock user guide's supported models) in BEDROCK_MODEL_ID, or set FILES_READ=text.",
                    self.model_id, ModelError.from_exception(error))

    def cache_points_refused(self, error: BaseException) -> None:
        """A request with cache points was refused and the same one without them accepted: send none again."""
        with self._lock:
            if self._cache_refused:
                return
            self._cache_refused = True
        log.warning(
            "Bedrock refused the prompt cache points for model %s (%s) and answered without them, so this process "
            "sends none from now on and nothing is cached. Set BEDROCK_PROMPT_CACHE=off to skip the refused "
            "first request after each start; if this model should take prompt caching (see the Bedrock user "
            "guide's supported models), check BEDROCK_MODEL_ID.",
            self.model_id, ModelError.from_exception(error),
        )

    @property
    def guards(self) -> bool:
        """A guardrail checks the answers (and tool results, through `allows`)."""
        return self._guardrail is not None

    def allows(self, text: str) -> bool:
        """Whether the guardrail lets `text` (a tool's result) through (`ApplyGuardrail`, as input to the model);
        True without a guardrail. A check that fails is a `ModelError`."""
        if self._guardrail is None or not text.strip():
            return True
        guardrail, version, _ = self._guardrail
        try:
            checked = self._client.apply_guardrail(guardrailIdentifier=guardrail, guardrailVersion=version,
                                                   source="INPUT", content=[{"text": {"text": text}}])
        except Exception as error:
            raise ModelError.from_exception(error) from error
        return checked.get("action") != "GUARDRAIL_INTERVENED"

    def stream(self, messages: list[dict], tools: list[dict] | None = None) -> "ModelStream":
        """The model's answer to `messages`; `tools`: the tool specifications it may ask for (`toolSpec`s)."""
        return ModelStream(self, messages, tools or [])

    def _open(self, messages: list[dict], cache_points: bool = False, tools: list[dict] | None = None):
        system = [{"text": self._system_prompt}]
        if cache_points:
            system, messages = with_cache_points(system, messages)
        extra = {"toolConfig": {"tools": tools, "toolChoice": {"auto": {}}}} if tools else {}
        if self._guardrail is not None:
            guardrail, version, mode = self._guardrail
            extra["guardrailConfig"] = {"guardrailIdentifier": guardrail, "guardrailVersion": version,
                                        "streamProcessingMode": mode}
        response = self._client.converse_stream(
            modelId=self.model_id,
            messages=messages,
            system=system,
            inferenceConfig={"maxTokens": self._max_tokens, "temperature": self._temperature},
            **extra,
        )
        return response["stream"]


class Models:
    """The model each profile asks: one `BedrockModel` per (model, system prompt, maximum tokens), all on one
    client, each made the first time a profile needs it. What a model learns (that it refuses files or cache
    points) it keeps for every profile that asks it with the same prompt."""

    def __init__(self, settings: ModelSettings, client=None, streams_at_once: int = 10) -> None:
        self._settings = settings
        self._client = client if client is not None else create_bedrock_client(settings, streams_at_once)
        self._models: dict[tuple[str, str, int], BedrockModel] = {}
        self._lock = threading.Lock()

    def get(self, model_id: str, system_prompt: str, max_tokens: int) -> BedrockModel:
        key = (model_id, system_prompt, max_tokens)
        with self._lock:
            if key not in self._models:
                self._models[key] = BedrockModel.from_settings(
                    replace(self._settings, model_id=model_id, system_prompt=system_prompt, max_tokens=max_tokens),
                    self._client)
            return self._models[key]


def _interrupt(raw) -> None:
    """Close an event stream from another thread, at once. Closing alone waits for a read in progress, and a
    silent stream's read lasts until the read timeout; shutting the socket's reading side down first (urllib3's
    `HTTPResponse.shutdown`, under botocore's `EventStream`) ends that read now."""
    response: Any = getattr(raw, "_raw_stream", None)
    try:
        response.shutdown()
    except (AttributeError, ValueError, RuntimeError, OSError):
        pass  # already closed or released, or not a urllib3 response: closing is all there is to do
    raw.close()


class StreamClosed(Exception):
    """The stream was closed on purpose (deadline, shutdown, the reply was deleted)."""


class ModelStream:
    """One answer from the model, as events. `close()` may come from any thread and ends the stream at once."""

    def __init__(self, model: BedrockModel, messages: list[dict], tools: list[dict] | None = None) -> None:
        self._model = model
        self._messages = messages
        self._tools = tools or []
        self._lock = threading.Lock()
        self._raw = None
        self.closed = False
        self.attempts = 0
        self._cache_points = model.sends_cache_points
        self._files = any(_is_file(block) for message in messages for block in message.get("content", []))
        self.dropped_files = False  # the model refused the files: the answer went without them
        self.unreadable: list[dict] = []  # file blocks Bedrock refused one by one: the answer went without them
        self.named_unreadable: list[dict] = []  # ... those of them Bedrock named (the others may be readable)
        self._sent: list[dict] = messages  # the messages of the last request (what a refusal's path points into)
        self._refusals: dict[str, BaseException] = {}  # what Bedrock answered a request with cache points, files

    def close(self) -> None:
        with self._lock:
            self.closed = True
            raw = self._raw
        if raw is not None:
            _interrupt(raw)  # no more tokens are read, or paid for

    def __iter__(self) -> Iterator[ModelEvent]:
        policy = self._model.retry
        backoff = wait_random_exponential(multiplier=policy.base_seconds, max=10)
        out_of_time = stop_after_delay(policy.max_seconds)
        retrying = Retrying(
            retry=retry_if_exception(self._worth_retrying),
            # the one try without cache points goes at once, and outside the bounds
            wait=lambda state: 0 if self._refused_now(state) else backoff(state),
            stop=lambda state: not self._refused_now(state) and (
                state.attempt_number >= self._attempts_allowed() or out_of_time(state)),
            reraise=True,
            before_sleep=self._before_sleep,
        )
        events: Iterator[ModelEvent] | None = None
        first: list[ModelEvent] = []
        try:
            for attempt in retrying:
                with attempt:
                    events = self._events(self._open())
                    first = []
                    for event in events:  # read up to the first text: until then a failure is retried
                        first.append(event)
                        if isinstance(event, TextDelta):
                            break
            if "cache points" in self._refusals:  # accepted without them: they were what was refused
                self._model.cache_points_refused(self._refusals["cache points"])
            if "files" in self._refusals:
                self._model.files_refused(self._refusals["files"])
            yield from first
            if events is not None:  # set by the first attempt, or it raised
                yield from events
        except (StreamClosed, ModelError):
            raise
        except Exception as error:
            if self.closed:  # the read that `close()` cut short
                raise StreamClosed() from error
            raise ModelError.from_exception(error) from error
        finally:
            if events is not None:
                events.close()  # type: ignore[attr-defined]
            self.close()

    def _worth_retrying(self, error: BaseException) -> bool:
        if self.closed:
            return False
        if is_transient(error):
            return True
        if self._files and may_refuse_files(error):
            self._files, self.dropped_files, self._refusals["files"] = False, True, error
            return True
        if self._files and (blocks := self._refused_blocks(error)):
            self.unreadable += blocks
            found = refused_file(error)
            if found is not None and found[1] is not None:  # Bedrock named the block: it is unreadable
                self.named_unreadable += blocks
            self._refusals[f"a file it cannot read ({len(self.unreadable)})"] = error
            return True
        if self._cache_points and may_refuse_cache_points(error):
            self._cache_points, self._refusals["cache points"] = False, error
            return True
        return False

    def _refused_now(self, state: RetryCallState) -> bool:
        """The attempt that just failed was the one refused for its cache points."""
        error = state.outcome.exception() if state.outcome is not None else None
        return error is not None and any(error is refusal for refusal in self._refusals.values())

    def _attempts_allowed(self) -> int:
        return self._model.retry.attempts + len(self._refusals)

    def _refused_blocks(self, error: BaseException) -> list[dict]:
        """The file blocks of the last request that Bedrock refused as unreadable: the one its message names, or
        every one of the kind it speaks of."""
        found = refused_file(error)
        if found is None:
            return []
        kind, where = found
        if where is not None:
            try:
                block = self._sent[where[0]]["content"][where[1]]
            except (IndexError, KeyError, TypeError):
                block = None
            return [block] if isinstance(block, dict) and kind in block else []
        return [block for message in self._sent for block in message.get("content", []) if kind in block]

    def _before_sleep(self, state: RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome else None
        if error is None:
            return
        if self._refused_now(state):
            what = next(name for name, refusal in self._refusals.items() if refusal is error)
            log.info("Bedrock: %s for a request with %s; trying it once without them",
                     ModelError.from_exception(error), what)
            return
        log.warning("Bedrock: %s; trying again (attempt %d of %d)", code_of(error), state.attempt_number + 1,
                    self._attempts_allowed())

    def _open(self):
        if self.closed:
            raise StreamClosed()
        self.attempts += 1
        messages = self._messages if self._files else without_files(self._messages)
        messages = self._sent = without_blocks(messages, self.unreadable)
        raw = self._model._open(messages, self._cache_points, self._tools)
        with self._lock:
            self._raw = raw
            closed = self.closed
        if closed:
            raw.close()
            raise StreamClosed()
        return raw

    def _events(self, raw) -> Iterator[ModelEvent]:
        finished = False
        tools: dict[int, tuple[str, str, list[str]]] = {}  # block index → the tool asked for, its input so far
        try:
            for event in raw:
                if "contentBlockStart" in event:
                    start = event["contentBlockStart"]
                    asked = start.get("start", {}).get("toolUse")
                    if asked is not None:
                        tools[start.get("contentBlockIndex", 0)] = (asked.get("toolUseId", ""), asked.get("name", ""),
                                                                    [])
                elif "contentBlockDelta" in event:
                    block = event["contentBlockDelta"]
                    delta = block.get("delta", {})
                    text = delta.get("text")
                    if text:
                        yield TextDelta(text)
                    elif "toolUse" in delta and block.get("contentBlockIndex", 0) in tools:
                        tools[block.get("contentBlockIndex", 0)][2].append(delta["toolUse"].get("input", ""))
                elif "contentBlockStop" in event:
                    asked = tools.pop(event["contentBlockStop"].get("contentBlockIndex", 0), None)
                    if asked is not None:
                        yield ToolUse(asked[0], asked[1], _tool_input("".join(asked[2])))
                elif "messageStop" in event:
                    finished = True
                    yield Finished(event["messageStop"].get("stopReason", "end_turn"))
                elif "metadata" in event:
                    usage = event["metadata"].get("usage", {})
                    yield Usage(usage.get("inputTokens", 0), usage.get("outputTokens", 0),
                                usage.get("cacheReadInputTokens", 0), usage.get("cacheWriteInputTokens", 0))
        finally:
            raw.close()
        if finished:
            return  # complete, even if a close came in after messageStop
        if self.closed:
            raise StreamClosed()
        raise StreamEndedEarly("the model stream ended without messageStop")


def _tool_input(text: str) -> dict | None:
    """What the model wrote as a tool's input: a JSON object (an empty input is `{}`), else None."""
    if not text.strip():
        return {}
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _is_file(block: dict) -> bool:
    return "image" in block or "document" in block


def without_blocks(messages: list[dict], blocks: list[dict]) -> list[dict]:
    """`messages` without `blocks` (the very blocks, not equal ones)."""
    if not blocks:
        return messages
    gone = {id(block) for block in blocks}
    return [{**message, "content": [block for block in message.get("content", []) if id(block) not in gone]}
            for message in messages]


def without_files(messages: list[dict]) -> list[dict]:
    """`messages` without their image and document blocks (the text naming each stays)."""
    return [{**message, "content": [block for block in message.get("content", []) if not _is_file(block)]}
            for message in messages]
