"""The conversation becomes an answer in rounds: the model writes, asks for tools, reads what they gave, and
writes on.

`Rounds.run` streams the model with the tools' specifications; when a round ends asking for tools
(`stopReason` `tool_use`), it runs every tool asked for at once (each within `timeout` seconds and the reply's
deadline), adds the model's turn and a turn of `toolResult`s to the conversation (Bedrock's rule: every
`toolUse` answered, in the next user turn, by its id), and streams again. It yields what the reply shows:
the model's `TextDelta`s, a `Step` for each tool call as it goes (pending → in progress → complete or error),
the last round's `Finished`, and the `Usage` of every round together.

A tool that fails or takes too long is a tool result with status `error` and a plain reason, which the model
can work around; `failures` keeps the reasons for the closing note. After `rounds` rounds of tools, the tools
asked for next are answered "no more" and the model is asked once more to answer with what it has; if it
still asks, the answer ends (`Finished("tool_rounds")`); likewise once the answer's rounds together have used
`max_tokens` tokens.

Passages the tools found are numbered across the answer (`Sources`): the model sees "[1] title" before each and
is asked to cite by number; `sources.cited(text)` gives the sources the answer cites.
"""

from __future__ import annotations

import logging
import re
import time
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Callable, Iterator, Sequence

from bot.model.bedrock import (BedrockModel, Finished, ModelStream, StreamClosed, TextDelta, ToolUse, Usage,
                               without_blocks, without_files)
from bot.model.errors import ModelError
from bot.tools.base import (APPROVED, DENIED, STOPPED, UNREVIEWABLE, Approver, Source, Tool, ToolFailed,
                             ToolOutput)

PENDING, IN_PROGRESS, COMPLETE, ERROR = "pending", "in_progress", "complete", "error"
TOOL_ROUNDS = "tool_rounds"  # the stop reason of an answer that kept asking for tools past the limit
MAX_RESULT = 12_000  # characters of one tool result given to the model
MAX_AT_ONCE = 8  # tool calls one round runs; beyond them the model is told to ask for fewer
_LOOK_EVERY = 0.1  # seconds: how often running tools look whether the reply was stopped
_CITATION = re.compile(r"\[(\d{1,3})\]")

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Step:
    """A tool call's progress, as a task card shows it."""

    id: str
    title: str
    status: str  # PENDING, IN_PROGRESS, COMPLETE or ERROR
    doing: str = ""  # what the thread's status says while it runs
    sources: tuple[Source, ...] = ()
    reason: str = ""  # why it failed, or what it waits for (shown on its card)


class Sources:
    """The passages' sources of one answer, numbered in the order the tools found them (one number each)."""

    def __init__(self) -> None:
        self._numbers: dict[str, int] = {}
        self.listed: list[Source] = []

    def number(self, source: Source) -> int:
        if source.key not in self._numbers:
            self.listed.append(source)
            self._numbers[source.key] = len(self.listed)
        return self._numbers[source.key]

    def cited(self, text: str) -> list[tuple[int, Source]]:
        """The sources `text` cites ("[2]"), in number order."""
        numbers = sorted({int(found) for found in _CITATION.findall(text)})
        return [(number, self.listed[number - 1]) for number in numbers if 1 <= number <= len(self.listed)]


class Rounds:
    def __init__(self, model: BedrockModel, tools: Sequence[Tool], *, rounds: int = 5, timeout: float = 20.0,
                 clock: Callable[[], float] = time.monotonic, approve: Approver | None = None,
                 max_tokens: int | None = None) -> None:
        """`approve`: asks the person who asked before a tool that `needs_approval` runs (None: such a tool
        cannot run here). `max_tokens`: the tokens (in and out, every round) past which no more tools run."""
        self._max_tokens = max_tokens
        self._approve = approve
        self._model = model
        self._tools = {tool.name: tool for tool in tools}
        self._rounds = rounds
        self._timeout = timeout
        self._clock = clock
        self.sources = Sources()
        self.failures: list[tuple[str, str]] = []  # (the step's title, why it failed)
        self.attempts = 0  # model requests made, retries included
        self.text = ""  # everything the model wrote, every round
        self.dropped_files = False  # the model refused the conversation's files: it answered without them
        self.unreadable: list[dict] = []  # file blocks Bedrock could not read: the answer went without them
        self.named_unreadable: list[dict] = []  # ... those Bedrock named: unreadable whatever else is asked

    def run(self, messages: list[dict], *, attach: Callable[[ModelStream], ModelStream] = lambda stream: stream,
            stopped: Callable[[], bool] = lambda: False, until: float | None = None) -> Iterator[object]:
        """The answer's events. `attach` is given each round's stream (so that it can be closed at once);
        `stopped` says the reply was stopped (running tools are left); `until`: the reply's deadline (clock)."""
        messages = list(messages)
        specs = [{"toolSpec": tool.spec} for tool in self._tools.values()]
        usage = Usage(0, 0)
        told_no_more = False
        for number in range(self._rounds + 2):
            stream = attach(self._model.stream(messages, specs))
            written: list[str] = []
            asked: list[ToolUse] = []
            finished: Finished | None = None
            try:
                for event in stream:
                    if isinstance(event, TextDelta):
                        if not written and self.text and not self.text[-1].isspace():  # a new round: a new paragraph
                            written.append("\n\n")
                            yield TextDelta("\n\n")
                        written.append(event.text)
                        yield event
                    elif isinstance(event, ToolUse):
                        asked.append(event)
                        yield Step(event.id, self._title(event), PENDING)
                    elif isinstance(event, Finished):
                        finished = event
                    elif isinstance(event, Usage):
                        usage = _added(usage, event)
            finally:
                self.attempts += stream.attempts
            if stream.dropped_files:
                self.dropped_files, messages = True, without_files(messages)
            if stream.unreadable:
                self.unreadable += stream.unreadable
                self.named_unreadable += stream.named_unreadable
                messages = without_blocks(messages, stream.unreadable)
            self.text += "".join(written)
            if finished is None or finished.stop_reason != "tool_use" or not asked:
                break
            if told_no_more:  # told there were no more, it asked again
                for use in asked:
                    yield self._refused(use, "it was not run: the answer had taken too many steps")
                finished = Finished(TOOL_ROUNDS)
                break
            said = "".join(written)
            messages.append({"role": "assistant", "content": ([{"text": said}] if said.strip() else []) + [
                {"toolUse": {"toolUseId": use.id, "name": use.name, "input": use.input or {}}} for use in asked]})
            limit = self._limit(number, usage)
            if limit is not None:
                told_no_more = True
                results = [_result(use.id, ERROR, f"No more tool calls in this answer ({limit}): answer now with "
                                   "what you have, and say what you could not look up.") for use in asked]
                for use in asked:
                    yield self._refused(use, "it was not run: the answer had taken too many steps")
            else:
                results = yield from self._run(asked, stopped, until)
            messages.append({"role": "user", "content": [{"toolResult": result} for result in results]})
        if finished is not None:
            yield finished
        yield usage

    def _limit(self, number: int, usage: Usage) -> str | None:
        """Which limit a round of tools would pass now (`number` rounds ran), if any."""
        if number >= self._rounds:
            return f"the limit is {self._rounds} rounds"
        if self._max_tokens is not None and usage.input_tokens + usage.output_tokens >= self._max_tokens:
            used = usage.input_tokens + usage.output_tokens
            return f"the answer has used {used:,} of its {self._max_tokens:,} tokens"
        return None

    # -- one round of tools ------------------------------------------------------------------------

    def _run(self, asked: list[ToolUse], stopped: Callable[[], bool], until: float | None):
        """Run every tool asked for at once; their results, in the order asked (a generator: it yields Steps)."""
        runs: dict[Future, ToolUse] = {}
        results: dict[str, dict] = {}
        go: list[tuple[ToolUse, Tool, dict]] = []
        for count, use in enumerate(asked):  # first what may not run, and what needs the person's approval
            tool = self._tools.get(use.name)
            reason = None
            if count >= MAX_AT_ONCE:
                reason = f"too many tool calls at once ({MAX_AT_ONCE} at most): ask for fewer"
            elif tool is None or use.input is None:
                reason = f"there is no tool named {use.name}" if tool is None else "its input was not a JSON object"
            elif getattr(tool, "needs_approval", False):
                yield Step(use.id, self._title(use), PENDING, doing="is waiting for your approval…",
                           reason="Waiting for the approval of the person who asked")
                reason = self._approval(tool, use, stopped, until)
            if reason is not None:
                results[use.id] = self._failed(use, reason)
                yield Step(use.id, self._title(use), ERROR, reason=reason)
            elif tool is not None and use.input is not None:
                go.append((use, tool, use.input))
        deadline = self._clock() + self._timeout
        if until is not None:
            deadline = min(deadline, until)
        pool = ThreadPoolExecutor(max_workers=max(len(go), 1), thread_name_prefix="tool")
        try:
            for use, tool, tool_input in go:
                yield Step(use.id, self._title(use), IN_PROGRESS, doing=tool.doing(tool_input))
                runs[pool.submit(self._guarded, tool, tool_input, max(deadline - self._clock(), 0.1))] = use
            pending = set(runs)
            while pending:
                if stopped():
                    raise StreamClosed()
                left = deadline - self._clock()
                if left <= 0:
                    break
                done, pending = wait(pending, timeout=min(left, _LOOK_EVERY), return_when=FIRST_COMPLETED)
                for future in done:
                    yield self._finished(runs[future], future, results)
            for future in pending:  # out of time: the model hears so, and goes on without it
                use = runs[future]
                reason = "it took too long"
                if getattr(self._tools.get(use.name), "needs_approval", False):  # it may have acted all the same
                    reason = "it took too long, and may have run: check before asking for it again"
                results[use.id] = self._failed(use, reason)
                yield Step(use.id, self._title(use), ERROR, reason=reason)
        finally:
            pool.shutdown(wait=False, cancel_futures=True)
        return [results[use.id] for use in asked]

    def _guarded(self, tool: Tool, tool_input: dict, timeout: float) -> ToolOutput:
        """The tool's output, once the guardrail (where there is one) let it through: the stream's guardrail does
        not check tool results, so each is checked on its own (`ApplyGuardrail`); a check that fails withholds it."""
        output = tool.run(tool_input, timeout)
        if not self._model.guards:
            return output
        text = "\n\n".join([output.text, *(passage.text for passage in output.passages)])
        try:
            allowed = self._model.allows(text)
        except ModelError as error:
            log.warning("the guardrail could not check a result of %s: %s", tool.name, error)
            raise ToolFailed("the guardrail could not check its result") from error
        if not allowed:
            raise ToolFailed("a guardrail withheld its result")
        return output

    def _approval(self, tool: Tool, use: ToolUse, stopped: Callable[[], bool], until: float | None) -> str | None:
        """None if the person who asked approved the call; else why it does not run."""
        if self._approve is None:
            return "it needs the approval of the person who asked, which cannot be given here"
        outcome = self._approve(getattr(tool, "label", tool.name), use.input or {}, stopped, until)
        if outcome == STOPPED or stopped():
            raise StreamClosed()
        if outcome == APPROVED:
            return None
        return {DENIED: "the person who asked did not approve it",
                UNREVIEWABLE: "its input was too long to show for approval"}.get(outcome, "no one approved it in time")

    def _finished(self, use: ToolUse, future: Future, results: dict[str, dict]) -> Step:
        try:
            output: ToolOutput = future.result()
        except ToolFailed as failure:
            results[use.id] = self._failed(use, failure.reason)
            return Step(use.id, self._title(use), ERROR, reason=failure.reason)
        except Exception as error:  # a tool's own bug: the model goes on without it, the log has the detail
            log.exception("tool %s failed", use.name)
            results[use.id] = self._failed(use, f"it failed ({type(error).__name__})")
            return Step(use.id, self._title(use), ERROR, reason="it failed")
        lines = [output.text] if output.text else []
        sources: list[Source] = []
        for passage in output.passages:
            number = self.sources.number(passage.source)
            if passage.source not in sources:
                sources.append(passage.source)
            lines.append(f"[{number}] {passage.source.title}\n{passage.text}")
        results[use.id] = _result(use.id, COMPLETE, "\n\n".join(lines)[:MAX_RESULT] or "(no output)")
        return Step(use.id, self._title(use), COMPLETE, sources=tuple(sources))

    def _refused(self, use: ToolUse, reason: str) -> Step:
        """A call that is not run: its card ends, and the note says so."""
        self.failures.append((self._title(use), reason))
        return Step(use.id, self._title(use), ERROR, reason=reason)

    def _failed(self, use: ToolUse, reason: str) -> dict:
        self.failures.append((self._title(use), reason))
        return _result(use.id, ERROR, f"The tool failed: {reason}.")

    def _title(self, use: ToolUse) -> str:
        tool = self._tools.get(use.name)
        return tool.title(use.input or {}) if tool is not None else use.name


def _result(tool_use_id: str, status: str, text: str) -> dict:
    return {"toolUseId": tool_use_id, "content": [{"text": text}],
            "status": "error" if status == ERROR else "success"}


def _added(one: Usage, other: Usage) -> Usage:
    return Usage(one.input_tokens + other.input_tokens, one.output_tokens + other.output_tokens,
                 one.cache_read_tokens + other.cache_read_tokens, one.cache_write_tokens + other.cache_write_tokens)
