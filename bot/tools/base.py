"""What every tool shares: what it is to the model, how its step is shown, and what it gives back.

A tool is plain: `spec` is what the model sees (Bedrock's `toolSpec`), `title` and `doing` say in words what a
call of it does (the task card's title, the status under the thread), and `run` does it within a time and
returns a `ToolOutput` (text for the model, and the passages it found, each with its `Source`) or raises
`ToolFailed` with a short reason a person can read. A tool maps its own remote's errors into `ToolFailed` at
its edge, as the Slack and Bedrock edges do theirs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Protocol


@dataclass(frozen=True)
class Source:
    """Where a passage came from: its title, and a link where one exists (None: an S3 object, say)."""

    title: str
    url: str | None = None

    @property
    def key(self) -> str:
        return self.url or self.title


@dataclass(frozen=True)
class Passage:
    text: str
    source: Source


@dataclass(frozen=True)
class ToolOutput:
    """What a tool call gave: `text` for the model (besides the passages), and the passages it found."""

    text: str = ""
    passages: tuple[Passage, ...] = ()


class ToolFailed(Exception):
    """A tool call did not give an answer: `reason` is short and plain ("the search took too long"), for the
    model (which may work around it) and the closing note; the detail goes to the log."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(reason)
        self.reason = reason
        self.detail = detail or reason


APPROVED, DENIED, EXPIRED, STOPPED = "approved", "denied", "expired", "stopped"  # what asking for approval gave
UNREVIEWABLE = "unreviewable"  # ... or that its input is too long to show whole, so it was not asked

# Asks the person who asked whether a tool may run: (what it is, its input, whether the reply was stopped, the
# reply's deadline) → APPROVED, DENIED, EXPIRED or STOPPED.
Approver = Callable[[str, dict, Callable[[], bool], "float | None"], str]


class Tool(Protocol):
    """A tool that changes something also has `needs_approval = True` and a `label` ("close_ticket on
    tickets"): it runs only once the person who asked approves it."""

    name: str  # letters, digits, _ and -, at most 64 (Bedrock's rule)

    @property
    def spec(self) -> dict:
        """Bedrock's `toolSpec`: name, description, inputSchema."""

    def title(self, tool_input: dict) -> str:
        """The step as a task card's title: "Searching the HR handbook for “parental leave”"."""

    def doing(self, tool_input: dict) -> str:
        """The step in the thread's status: "is searching the HR handbook…"."""

    def run(self, tool_input: dict, timeout: float) -> ToolOutput:
        """Do it, within `timeout` seconds; `ToolFailed` if it cannot."""


def search_spec(name: str, description: str) -> dict:
    """The `toolSpec` of a search: one `query` the model writes."""
    return {
        "name": name,
        "description": description,
        "inputSchema": {"json": {
            "type": "object",
            "properties": {"query": {"type": "string", "description": "What to search for: a question, or key words."}},
            "required": ["query"],
        }},
    }


def query_of(tool_input: dict, most: int) -> str:
    """A search's query as the model wrote it, on one line, at most `most` characters."""
    return " ".join(str(tool_input.get("query", "")).split())[:most]


@dataclass(frozen=True)
class ToolSettings:
    """The tools the model may use and the limits of using them (BEDROCK_KNOWLEDGE_BASE_IDS,
    BEDROCK_KNOWLEDGE_BASE_RESULTS, SLACK_SEARCH, SLACK_SEARCH_RESULTS, MCP_SERVERS_FILE, TOOL_APPROVAL_SECONDS,
    TOOL_ROUNDS, TOOL_MAX_TOKENS, TOOL_TIMEOUT_SECONDS)."""

    knowledge_bases: tuple[tuple[str, str], ...] = ()  # (id, what it holds, in words the model and people read)
    knowledge_base_results: int = 5  # passages per search
    slack_search: str = "auto"  # auto: where the app has a search:read scope | on | off
    slack_search_results: int = 10  # messages per Slack search (Slack's most: 20)
    mcp_servers: tuple = ()  # `mcp_config.McpServer`s, from MCP_SERVERS_FILE
    approval_seconds: float = 180.0  # how long a tool that acts waits for the person's approval
    rounds: int = 5  # rounds of tool calls in one answer
    max_tokens: int = 100_000  # tokens (in and out, every round) past which an answer's tools stop
    timeout_seconds: float = 20.0  # one tool call
    aws_region: str | None = field(default=None, compare=False)  # as the model's (boto3's chain decides if None)
