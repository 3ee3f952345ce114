"""Bedrock Knowledge Bases as tools: one search tool per knowledge base (`Retrieve` in `bedrock-agent-runtime`),
whose passages go back to the model numbered, and whose locations become the answer's sources.

This is the only module that talks to the Knowledge Bases runtime. Its endpoint follows boto3's standard chain
(`AWS_ENDPOINT_URL_BEDROCK_AGENT_RUNTIME`, the region, the credentials). One retry policy (tenacity) covers a
search: throttling and a service hiccup are tried again within the tool's time; botocore's own retries are off
so the two never multiply. Every failure becomes a `ToolFailed` with a plain reason.
"""

from __future__ import annotations

import logging
import posixpath
import re
import threading
from urllib.parse import unquote, urlsplit

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, ParamValidationError
from tenacity import Retrying, retry_if_exception, stop_after_attempt, stop_after_delay, wait_random_exponential

from bot.tools.base import Passage, Source, ToolFailed, ToolOutput, query_of, search_spec

log = logging.getLogger(__name__)

MAX_QUERY = 1_000  # characters of a query (Retrieve takes 20,000; a search needs far fewer)
MAX_PASSAGE = 2_000  # characters of one passage given to the model
MAX_TITLE = 80
_RETRIED = frozenset({"ThrottlingException", "InternalServerException", "ServiceUnavailableException",
                      "BadGatewayException", "DependencyFailedException"})
_REASONS = {  # Retrieve's error codes → what a person reads, and what the log adds for whoever runs the bot
    "ResourceNotFoundException": ("the knowledge base was not found",
                                  "check BEDROCK_KNOWLEDGE_BASE_IDS and the region (AWS_REGION)"),
    "AccessDeniedException": ("the bot is not allowed to search it",
                              "grant bedrock:Retrieve on the knowledge base to the bot's IAM role"),
    "ValidationException": ("the knowledge base refused the search", ""),
    "ThrottlingException": ("the knowledge base is busy", "raise the Retrieve quota if this is frequent"),
    "ServiceQuotaExceededException": ("the knowledge base's quota is used up", "raise the Retrieve quota"),
}


def create_client(region: str | None, timeout: float):
    """A `bedrock-agent-runtime` client from boto3's standard chain, reads bounded by a tool call's time."""
    config = Config(connect_timeout=min(timeout, 10), read_timeout=timeout,
                    retries={"total_max_attempts": 1, "mode": "standard"}, user_agent_extra="bedrock-slack-bot")
    return boto3.client("bedrock-agent-runtime", region_name=region, config=config)


class KnowledgeBase:
    """The search tool of one knowledge base: `about` says what it holds ("the HR handbook")."""

    def __init__(self, client, knowledge_base_id: str, about: str, results: int = 5) -> None:
        self._client = client
        self.knowledge_base_id = knowledge_base_id
        self.about = about
        self._results = results
        self.name = f"search_knowledge_base_{knowledge_base_id}"

    @property
    def spec(self) -> dict:
        return search_spec(self.name, f"Search {self.about} for passages that answer a question. Use it whenever the "
                                      f"question may be answered from {self.about}. Cite each passage you use by its "
                                      "number in square brackets, like [1].")

    def title(self, tool_input: dict) -> str:
        query = _short(query_of(tool_input, 200), 60)
        return f"Searching {_short(self.about, 60)}" + (f" for “{query}”" if query else "")

    def doing(self, tool_input: dict) -> str:
        return f"is searching {_short(self.about, 50)}…"

    def run(self, tool_input: dict, timeout: float) -> ToolOutput:
        query = query_of(tool_input, MAX_QUERY)
        if not query:
            raise ToolFailed("the search had no query")
        results = self._retrieve(query, timeout)
        passages = tuple(Passage(_text(result)[:MAX_PASSAGE], source_of(result)) for result in results
                         if _text(result).strip())
        if not passages:
            return ToolOutput(f"Nothing in {self.about} matches “{query}”.")
        return ToolOutput(f"Passages from {self.about} for “{query}”:", passages)

    def _retrieve(self, query: str, timeout: float) -> list[dict]:
        policy = Retrying(
            retry=retry_if_exception(lambda error: isinstance(error, ClientError) and _code(error) in _RETRIED),
            wait=wait_random_exponential(multiplier=0.25, max=2),
            stop=stop_after_attempt(3) | stop_after_delay(max(timeout - 1, 0)),
            reraise=True,
        )
        try:
            response = policy(self._client.retrieve, knowledgeBaseId=self.knowledge_base_id,
                              retrievalQuery={"text": query},
                              retrievalConfiguration={"vectorSearchConfiguration": {"numberOfResults": self._results}})
        except ClientError as error:
            reason, fix = _REASONS.get(_code(error), ("the knowledge base failed", ""))
            log.warning("Knowledge base %s: %s%s", self.knowledge_base_id, error, f" ({fix})" if fix else "")
            raise ToolFailed(reason, str(error)) from error
        except ParamValidationError as error:  # what botocore checks before sending: the id, in practice
            log.warning("Knowledge base %s: %s (check BEDROCK_KNOWLEDGE_BASE_IDS)", self.knowledge_base_id, error)
            raise ToolFailed("the knowledge base's id is not valid", str(error)) from error
        except BotoCoreError as error:  # the network, a read past the timeout, credentials
            log.warning("Knowledge base %s: %s", self.knowledge_base_id, error)
            reason = "the search took too long" if "timeout" in type(error).__name__.lower() else (
                "the knowledge base could not be reached")
            raise ToolFailed(reason, str(error)) from error
        return list(response.get("retrievalResults") or [])


def source_of(result: dict) -> Source:
    """A result's location as a source: a link where the location has a web address (web, Confluence,
    SharePoint, Salesforce, drives), else the object's name (S3)."""
    location = result.get("location") or {}
    address = next((value.get("url") or value.get("uri") for key, value in location.items()
                    if key.endswith("Location") and isinstance(value, dict) and (value.get("url") or value.get("uri"))),
                   "")
    metadata = result.get("metadata") or {}
    named = metadata.get("title") or metadata.get("x-amz-bedrock-kb-title")
    parts = urlsplit(address)
    link = address if parts.scheme in ("http", "https") and parts.netloc else None
    name = (posixpath.basename(unquote(str(parts.path).rstrip("/"))) or str(parts.netloc)
            or str(location.get("type", "source")).lower())
    return Source(_short(str(named) if isinstance(named, str) and named.strip() else name, MAX_TITLE), link)


def _text(result: dict) -> str:
    return str((result.get("content") or {}).get("text") or "")


def _code(error: ClientError) -> str:
    return error.response.get("Error", {}).get("Code", "") or str(error.response.get("ResponseMetadata", {}).get(
        "HTTPStatusCode", ""))


def _short(text: str, most: int) -> str:
    text = re.sub(r"\s+", " ", text).strip()
    return text if len(text) <= most else text[: most - 1].rstrip() + "…"


class KnowledgeBases:
    """The search tools of the knowledge bases the profiles name, each made the first time one is asked for,
    all on one client (made then too)."""

    def __init__(self, settings, client=None) -> None:
        """`settings`: a `ToolSettings` (results per search, the tool's time, the region)."""
        self._settings = settings
        self._client = client
        self._tools: dict[tuple[str, str], KnowledgeBase] = {}
        self._lock = threading.Lock()

    def tools(self, bases) -> list[KnowledgeBase]:
        """A search tool for each of `bases`, (id, what it holds) pairs."""
        with self._lock:
            for base in bases:
                if base not in self._tools:
                    if self._client is None:
                        self._client = create_client(self._settings.aws_region, self._settings.timeout_seconds)
                    knowledge_base_id, about = base
                    self._tools[base] = KnowledgeBase(self._client, knowledge_base_id, about,
                                                      self._settings.knowledge_base_results)
            return [self._tools[base] for base in bases]


def knowledge_bases(settings, client=None) -> list[KnowledgeBase]:
    """A search tool for each knowledge base `settings` (a `ToolSettings`) names."""
    return KnowledgeBases(settings, client).tools(settings.knowledge_bases)
