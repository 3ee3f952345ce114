"""Reads the files people shared into model content: the Slack edge of `files`.

The files of the question and of the thread before it, newest first, go through `files.choose`; the chosen
ones are downloaded at once (the Slack call policy paces and retries each; the client bounds how many run
together) within one budget of time for all of them, each checked (`files.check_download`) and turned into
Converse blocks. Whatever does not reach the model is kept as `LeftOut`, for the answer's closing note.
"""

from __future__ import annotations

import logging
import time
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import wait as wait_for
from dataclasses import dataclass, field
from typing import Callable, cast

from bot.conversation.files import (Choice, LeftOut, Limits, Reading, Reason, SlackFile, check_download, choose,
                                    document_name, download_failed, to_blocks)
from bot.slack.calls import SlackCalls
from bot.slack.methods import DOWNLOAD
from bot.slack.kinds import Gone, NotAllowed, RateLimited, SlackError, TooLong, Unavailable

log = logging.getLogger(__name__)

_AT_ONCE = 8  # downloads a reader may wait on together (the client runs fewer at a time)


@dataclass
class Attachments:
    """What the model gets of the shared files (`blocks`, in the order they were shared) and what it does not."""

    blocks: list[dict] = field(default_factory=list)
    left_out: list[LeftOut] = field(default_factory=list)
    sources: dict[int, SlackFile] = field(default_factory=dict)  # id() of each image and document block → its file


class SlackFiles:
    def __init__(self, calls: SlackCalls, limits: Limits, *, seconds: float,
                 granted: Callable[[], frozenset[str] | None] = lambda: None) -> None:
        """`granted`: the bot token's scopes, if known (an HTML page for a file the app may read is the file)."""
        self._calls = calls
        self._granted = granted
        self.limits = limits
        self._seconds = seconds
        self._pool = ThreadPoolExecutor(max_workers=_AT_ONCE, thread_name_prefix="file-download")

    def read(self, files_newest_first: list[SlackFile], on_reading: Callable[[str], None] = lambda name: None,
             deadline: float | None = None) -> Attachments:
        """Download and check the files that fit; `on_reading` hears the name of the first file being read
        (for the status). `deadline` (on the calls' clock): the reply's, if sooner than the files' budget."""
        choice: Choice = choose(files_newest_first, self.limits)
        if not choice.chosen:
            return Attachments(left_out=choice.left_out)
        on_reading(choice.chosen[0][0].name)
        until = self._calls.clock() + self._seconds
        if deadline is not None:
            until = min(until, deadline)
        futures = {self._pool.submit(self._download, file, reading, until): (file, reading)
                   for file, reading in choice.chosen}
        done, _ = wait_for(futures, timeout=max(until - self._calls.clock(), 0) + 1.0)
        left_out = list(choice.left_out)
        got: dict[SlackFile, bytes] = {}
        for future, (file, reading) in futures.items():
            outcome = future.result() if future in done else Reason.TIMED_OUT
            if isinstance(outcome, Reason):
                left_out.append(download_failed(file, reading, outcome, self.limits))
            else:
                got[file] = outcome
        blocks: list[dict] = []
        sources: dict[int, SlackFile] = {}
        taken: set[str] = set()
        for file, reading in reversed(choice.chosen):  # oldest first: the order they were shared in
            if file in got:
                name = document_name(file.name, taken)
                taken.add(name)
                for block in to_blocks(reading, file, got[file], name, text_chars=self.limits.text_chars):
                    if "image" in block or "document" in block:
                        sources[id(block)] = file
                    blocks.append(block)
        if left_out:
            log.info("files left out: %s", ", ".join(f"{item.file.name} ({item.reason.value})" for item in left_out))
        return Attachments(blocks, left_out, sources)

    def _download(self, file: SlackFile, reading: Reading, until: float) -> bytes | Reason:
        """The file's bytes, checked, or why the model cannot have them."""
        try:
            data = self._calls.call(DOWNLOAD, deadline=until, url=file.url,
                                    max_bytes=self.limits.file_bytes(reading.kind),
                                    until=_monotonic(until, self._calls), expect_html=reading.format == "html").data
        except NotAllowed:
            return self._no_access()
        except Gone:
            return Reason.DELETED
        except TooLong:
            return Reason.TOO_LARGE
        except (Unavailable, RateLimited) as error:  # after the policy's retries, or out of time
            log.warning("could not download %s: %s", file.name, error.code)
            slow = isinstance(error, RateLimited) or "time" in error.code.lower()  # timed_out, TimeoutError, …
            return Reason.TIMED_OUT if slow else Reason.SLACK_FAILED  # a 5xx, a download that broke off
        except SlackError as error:  # not a file Slack hands over as one
            log.warning("could not download %s: %s", file.name, error.code)
            return Reason.NOT_WHAT_IT_SAYS
        found = check_download(reading, cast(bytes, data), self.limits)
        return self._no_access() if found is Reason.NO_ACCESS else found or cast(bytes, data)


    def _no_access(self) -> Reason:
        """An HTML page came instead of a file: Slack's sign-in page (the app lacks files:read), unless the app has
        files:read, in which case the file is an HTML page that its name says it is not."""
        known = self._granted()
        return Reason.NOT_WHAT_IT_SAYS if known is not None and "files:read" in known else Reason.NO_ACCESS


def _monotonic(deadline: float, calls: SlackCalls) -> float:
    """`deadline` on the calls' clock, as a `time.monotonic` time (the client reads that clock)."""
    return time.monotonic() + (deadline - calls.clock())
