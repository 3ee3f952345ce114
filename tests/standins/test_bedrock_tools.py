"""The Bedrock stand-in checks tool use as Bedrock does, so that a bot which breaks a rule fails here first:
every `toolUse` answered by its id in the next user turn, results alone in their turn, no tool turn without
`toolConfig`, an error result with content, tool names of Bedrock's pattern. Through real boto3."""

from __future__ import annotations

import boto3
import pytest
from botocore.exceptions import ClientError

from standins.bedrock import Reply

TOOLS = {"tools": [{"toolSpec": {"name": "search", "description": "Search.",
                                 "inputSchema": {"json": {"type": "object"}}}}]}
ASKED = {"role": "assistant", "content": [{"toolUse": {"toolUseId": "t1", "name": "search", "input": {}}}]}
QUESTION = {"role": "user", "content": [{"text": "Q?"}]}


def result(tool_use_id: str = "t1", **extra) -> dict:
    return {"toolResult": {"toolUseId": tool_use_id, "content": [{"text": "found"}], **extra}}


def converse(bedrock, messages, tool_config=TOOLS):
    client = boto3.client("bedrock-runtime", region_name="us-east-1", endpoint_url=bedrock.endpoint_url,
                          aws_access_key_id="x", aws_secret_access_key="y")
    extra = {"toolConfig": tool_config} if tool_config else {}
    return list(client.converse_stream(modelId="m", messages=messages, **extra)["stream"])


def test_a_well_formed_tool_turn_is_answered(bedrock):
    bedrock.script(Reply.text("ok"))
    converse(bedrock, [QUESTION, ASKED, {"role": "user", "content": [result()]}])


@pytest.mark.parametrize("messages, tool_config, words", [
    ([QUESTION, ASKED, {"role": "user", "content": [result()]}], None, "toolConfig field must be defined"),
    ([QUESTION, ASKED, {"role": "user", "content": [{"text": "and"}]}], TOOLS, "Expected toolResult blocks"),
    ([QUESTION, ASKED, {"role": "user", "content": [result(), {"text": "and"}]}], TOOLS, "cannot be provided"),
    ([QUESTION, ASKED, {"role": "user", "content": [result(), result("t2")]}], TOOLS, "exceeds the number"),
    ([QUESTION, ASKED, {"role": "user", "content": [result("t9")]}], TOOLS, "does not answer a toolUse"),
    ([QUESTION, ASKED, {"role": "user", "content": [{"toolResult": {"toolUseId": "t1", "content": [],
                                                                     "status": "error"}}]}], TOOLS, "cannot be empty"),
    ([QUESTION], {"tools": [{"toolSpec": {"name": "search the web", "inputSchema": {"json": {}}}}]}, "regular expression"),
])
def test_a_broken_tool_turn_is_refused_as_bedrock_refuses_it(bedrock, messages, tool_config, words):
    with pytest.raises(ClientError) as refused:
        converse(bedrock, messages, tool_config)
    assert refused.value.response["Error"]["Code"] == "ValidationException" and words in str(refused.value)
