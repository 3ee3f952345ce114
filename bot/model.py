"""The conversation becomes a model stream: Bedrock `converse_stream`, as plain events.

This is the only module that talks to Bedrock. It yields `TextDelta`s as the model writes, `Finished`
when Bedrock says why it stopped, and `Usage` with the token counts; a stream that ends without
`messageStop` raises `StreamEndedEarly`, so a cut answer is never mistaken for a whole one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator, Union

import boto3
from botocore.config import Config

from .settings import Settings


@dataclass(frozen=True)
class TextDelta:
    text: str


@dataclass(frozen=True)
class Finished:
    stop_reason: str


@dataclass(frozen=True)
class Usage:
    input_tokens: int
    output_tokens: int


ModelEvent = Union[TextDelta, Finished, Usage]


class StreamEndedEarly(Exception):
    """The stream closed before Bedrock said the message was complete."""


def create_bedrock_client(settings: Settings):
    """A `bedrock-runtime` client from boto3's standard chain (region, credentials, endpoint)."""
    config = Config(
        connect_timeout=10,
        read_timeout=120,  # the longest gap between two chunks of a generation, not its whole length
        max_pool_connections=max(10, settings.max_concurrent_replies),
        user_agent_extra="bedrock-slack-bot",
    )
    return boto3.client("bedrock-runtime", region_name=settings.aws_region, config=config)


class BedrockModel:
    def __init__(self, client, *, model_id: str, system_prompt: str, max_tokens: int, temperature: float) -> None:
        self._client = client
        self.model_id = model_id
        self._system_prompt = system_prompt
        self._max_tokens = max_tokens
        self._temperature = temperature

    @classmethod
    def from_settings(cls, settings: Settings, client=None) -> "BedrockModel":
        return cls(
            client if client is not None else create_bedrock_client(settings),
            model_id=settings.model_id,
            system_prompt=settings.system_prompt,
            max_tokens=settings.max_tokens,
            temperature=settings.temperature,
        )

    def stream(self, messages: list[dict]) -> Iterator[ModelEvent]:
        response = self._client.converse_stream(
            modelId=self.model_id,
            messages=messages,
            system=[{"text": self._system_prompt}],
            inferenceConfig={"maxTokens": self._max_tokens, "temperature": self._temperature},
        )
        stream = response["stream"]
        finished = False
        try:
            for event in stream:
                if "contentBlockDelta" in event:
                    text = event["contentBlockDelta"].get("delta", {}).get("text")
                    if text:
                        yield TextDelta(text)
                elif "messageStop" in event:
                    finished = True
                    yield Finished(event["messageStop"].get("stopReason", "end_turn"))
                elif "metadata" in event:
                    usage = event["metadata"].get("usage", {})
                    yield Usage(usage.get("inputTokens", 0), usage.get("outputTokens", 0))
        finally:
            stream.close()  # also when the caller stops early: no more tokens are read or paid for
        if not finished:
            raise StreamEndedEarly("the model stream ended without messageStop")
