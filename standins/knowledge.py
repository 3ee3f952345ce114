"""A local Bedrock Knowledge Bases runtime: `POST /knowledgebases/{id}/retrieve` (bedrock-agent-runtime's
`Retrieve`), answered as AWS answers it, so that unmodified boto3 parses it. The bot reaches it through boto3's
standard `AWS_ENDPOINT_URL_BEDROCK_AGENT_RUNTIME`.

Each knowledge base is a list of `Passage`s; a query returns those sharing the most words with it (the best
first, each with a score), at most `numberOfResults` (default 5). Checked as botocore's service model says: the
id (10 letters and digits), the query (text, at most 20,000 characters), `numberOfResults` (1 to 100); an
unknown id is AWS's 404 `ResourceNotFoundException`. Faults: `fail(code, status)` answers the next calls with an
AWS error; `delay` makes every answer wait (a slow search).
"""

from __future__ import annotations

import re
import threading
import time
from dataclasses import dataclass, field

from standins.server import AwsHandler, LocalServer

KNOWLEDGE_BASE_ID = re.compile(r"[0-9a-zA-Z]{10}")
MAX_QUERY = 20_000
WORD = re.compile(r"\w+")


@dataclass(frozen=True)
class Passage:
    """A chunk of a document in a knowledge base, and where it came from: `location` is the `location` member
    of a result as AWS returns it, e.g. `web("https://…")` or `s3("s3://bucket/key")`."""

    text: str
    location: dict
    metadata: dict = field(default_factory=dict)


def s3(uri: str) -> dict:
    return {"type": "S3", "s3Location": {"uri": uri}}


def web(url: str) -> dict:
    return {"type": "WEB", "webLocation": {"url": url}}


def confluence(url: str) -> dict:
    return {"type": "CONFLUENCE", "confluenceLocation": {"url": url}}


@dataclass
class Retrieval:
    knowledge_base_id: str
    body: dict
    at: float
    ended_at: float | None = None

    @property
    def query(self) -> str:
        return (self.body.get("retrievalQuery") or {}).get("text", "")


class FakeKnowledgeBases:
    def __init__(self) -> None:
        self.bases: dict[str, list[Passage]] = {}
        self.retrievals: list[Retrieval] = []
        self.failures: list[tuple[int, str, str]] = []  # (status, code, message) for the next calls
        self.delay = 0.0  # seconds every answer waits
        self.lock = threading.Lock()
        self._http = LocalServer(("127.0.0.1", 0), self._handler_class())
        self._thread = threading.Thread(target=self._http.serve_forever, args=(0.05,), daemon=True)

    def start(self) -> "FakeKnowledgeBases":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._http.shutdown()
        self._http.server_close()

    @property
    def endpoint_url(self) -> str:
        return f"http://127.0.0.1:{self._http.server_address[1]}"

    def add(self, knowledge_base_id: str, *passages: Passage) -> None:
        with self.lock:
            self.bases.setdefault(knowledge_base_id, []).extend(passages)

    def fail(self, code: str = "ThrottlingException", status: int = 429, message: str = "injected by the stand-in",
             times: int = 1) -> None:
        with self.lock:
            self.failures.extend([(status, code, message)] * times)

    def search(self, knowledge_base_id: str, query: str, results: int) -> list[dict]:
        words = set(WORD.findall(query.lower()))
        scored = []
        for passage in self.bases.get(knowledge_base_id, []):
            shared = len(words & set(WORD.findall(passage.text.lower())))
            if shared:
                scored.append((shared / max(len(words), 1), passage))
        scored.sort(key=lambda pair: -pair[0])
        return [{"content": {"type": "TEXT", "text": passage.text}, "location": passage.location,
                 "score": round(score, 3), "metadata": passage.metadata} for score, passage in scored[:results]]

    def _problem(self, knowledge_base_id: str, body: dict) -> tuple[int, str, str] | None:
        if not KNOWLEDGE_BASE_ID.fullmatch(knowledge_base_id):
            return (400, "ValidationException", "1 validation error detected: Value at 'knowledgeBaseId' failed to "
                    "satisfy constraint: Member must satisfy regular expression pattern: ^[0-9a-zA-Z]{10}$")
        query = body.get("retrievalQuery")
        if not isinstance(query, dict) or not isinstance(query.get("text"), str):
            return (400, "ValidationException", "retrievalQuery.text is required")
        if len(query["text"]) > MAX_QUERY:
            return (400, "ValidationException", "1 validation error detected: Value at 'retrievalQuery.text' failed "
                    "to satisfy constraint: Member must have length less than or equal to 20000")
        number = ((body.get("retrievalConfiguration") or {}).get("vectorSearchConfiguration") or {}).get(
            "numberOfResults", 5)
        if not isinstance(number, int) or not 1 <= number <= 100:
            return (400, "ValidationException", "1 validation error detected: Value at 'retrievalConfiguration."
                    "vectorSearchConfiguration.numberOfResults' failed to satisfy constraint: Member must have "
                    "value between 1 and 100")
        if knowledge_base_id not in self.bases:
            return (404, "ResourceNotFoundException", f"Knowledge base {knowledge_base_id} not found")
        return None

    def _handler_class(self):
        bases = self

        class Handler(AwsHandler):
            def do_POST(self) -> None:
                body = self.read_json()
                parts = self.path.split("/")
                if len(parts) != 4 or parts[1] != "knowledgebases" or parts[3] != "retrieve":
                    self.send_error(404)
                    return
                retrieval = Retrieval(parts[2], body, time.monotonic())
                with bases.lock:
                    bases.retrievals.append(retrieval)
                    failure = bases.failures.pop(0) if bases.failures else None
                if bases.delay:
                    time.sleep(bases.delay)
                problem = failure or bases._problem(parts[2], body)
                if problem is not None:
                    self.send_aws_error(*problem)
                else:
                    number = (body.get("retrievalConfiguration") or {}).get("vectorSearchConfiguration", {}).get(
                        "numberOfResults", 5)
                    self.send_json(200, {"retrievalResults": bases.search(parts[2], body["retrievalQuery"]["text"],
                                                                          number)})
                retrieval.ended_at = time.monotonic()

        return Handler
