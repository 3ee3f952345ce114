"""Files people share with a question: which the model can read, which fit, and the content blocks they become.

Pure decisions, no SDK, network, thread or clock: the caller downloads what `choose` picked, checks each
download with `check_download`, and turns it into Converse blocks with `to_blocks`; what was left out goes
into one closing note (`bot.notes.files_note`).

What a file becomes (`kind_of`):
- an IMAGE block: png, jpeg, gif, webp;
- a DOCUMENT block: pdf, csv, doc, docx, xls, xlsx, html (Converse parses them itself);
- a TEXT block: snippets, plain text, Markdown, logs, code and config files, inlined in a fenced code block
  under the file's name. Converse would take txt and md as documents too, but inline they read better, keep
  their exact characters, and do not count against the 5 documents a request may hold;
- nothing: any other kind (zip, mp4, …), and files not stored in Slack (external) or deleted (tombstone).

Bedrock's ceilings (per file and per request) are in `IMAGE_BYTES`, `DOCUMENT_BYTES`, `MAX_IMAGES`,
`MAX_DOCUMENTS` and `MAX_IMAGE_SIDE`; a configured `Limits` may only be lower. Sizes are decimal (1 MB is
1,000,000 bytes), the smaller reading of AWS's "3.75 MB" and "4.5 MB".
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Iterable, Mapping

from bot.slack.pages import looks_like_html

IMAGE_BYTES = 3_750_000  # Bedrock: an image block's bytes
DOCUMENT_BYTES = 4_500_000  # Bedrock: a document block's bytes
MAX_IMAGES = 20  # Bedrock: image blocks in one request
MAX_DOCUMENTS = 5  # Bedrock: document blocks in one request
MAX_IMAGE_SIDE = 8_000  # Bedrock: pixels on either side of an image
NAME_CHARS = 100  # a document name's length: Converse takes 200; 100 names any file and leaves room for " (2)"

IMAGE_FORMATS = ("png", "jpeg", "gif", "webp")  # Converse's ImageFormat
DOCUMENT_FORMATS = ("pdf", "csv", "doc", "docx", "xls", "xlsx", "html", "txt", "md")  # Converse's DocumentFormat
FILE_KINDS = ("images", "documents", "text")  # the kinds FILES_READ may name

TEXT_CHARS = 20_000  # a text file's characters that reach the model, by default
_CUT = "\n[…cut here: the file was {length:,} characters long]"


class Kind(StrEnum):
    """What a file is for the model."""

    IMAGE = "image"
    DOCUMENT = "document"
    TEXT = "text"

    @property
    def setting(self) -> str:
        """Its name in FILES_READ: images, documents, text."""
        return {"image": "images", "document": "documents", "text": "text"}[self.value]


@dataclass(frozen=True)
class Reading:
    """How the model reads a file: its kind, and the format (an image or document format of Converse; for
    TEXT, the language named on the code fence, `text` when none)."""

    kind: Kind
    format: str


class Reason(StrEnum):
    """Why a file was left out. `choose` finds the first seven before downloading; a download may find
    TOO_LARGE again (bigger than declared) and the last four (`DOWNLOAD_REASONS`)."""

    NOT_AVAILABLE = "not_available"  # not stored in Slack (external) or deleted (tombstone), or no URL
    KIND_UNSUPPORTED = "kind_unsupported"  # a kind of file the model cannot take (zip, mp4, …)
    KIND_NOT_READ = "kind_not_read"  # a kind FILES_READ leaves out
    TOO_LARGE = "too_large"  # over the per-file bytes for its kind
    TOO_WIDE = "too_wide"  # an image over 8,000 pixels on a side
    TOO_MANY = "too_many"  # over the images or documents one request may hold
    NO_ROOM = "no_room"  # the files before it (newer) filled the bytes for one reply
    NO_ACCESS = "no_access"  # Slack sent its sign-in page: the app lacks the files:read scope
    DELETED = "deleted"  # gone by the time it was downloaded
    NOT_WHAT_IT_SAYS = "not_what_it_says"  # its bytes are not of the type it was declared as
    TIMED_OUT = "timed_out"  # its download took too long
    SLACK_FAILED = "slack_failed"  # Slack's file host answered with an error (5xx), or the download broke off
    MODEL_REFUSED = "model_refused"  # Bedrock refused a request for it: the model cannot read it


DOWNLOAD_REASONS = frozenset({Reason.NO_ACCESS, Reason.DELETED, Reason.NOT_WHAT_IT_SAYS, Reason.TIMED_OUT,
                              Reason.TOO_LARGE, Reason.SLACK_FAILED})


@dataclass(frozen=True)
class SlackFile:
    """A file shared in Slack, with the `ts` of the message it came with."""

    id: str
    name: str
    title: str
    mimetype: str
    filetype: str
    size: int
    url: str  # url_private_download, else url_private; empty when Slack gave neither
    mode: str  # hosted | snippet | external | tombstone | space | …
    ts: str
    width: int | None = None
    height: int | None = None
    is_external: bool = False

    @classmethod
    def from_slack(cls, d: Mapping, ts: str) -> "SlackFile":
        """From a file object as Slack's Web API and events give it."""
        name = str(d.get("name") or d.get("title") or d.get("id") or "file")
        return cls(
            id=str(d.get("id") or ""),
            name=name,
            title=str(d.get("title") or name),
            mimetype=str(d.get("mimetype") or "").lower(),
            filetype=str(d.get("filetype") or "").lower(),
            size=_int(d.get("size")) or 0,
            url=str(d.get("url_private_download") or d.get("url_private") or ""),
            mode=str(d.get("mode") or "hosted"),
            ts=ts,
            width=_int(d.get("original_w")),
            height=_int(d.get("original_h")),
            is_external=bool(d.get("is_external")),
        )

    @property
    def available(self) -> bool:
        """Whether its bytes are in Slack to download: not external, not deleted, with a URL."""
        return bool(self.url) and not self.is_external and self.mode not in ("external", "tombstone")

    @property
    def extension(self) -> str:
        """The name's extension, lower case, without the dot; empty when it has none."""
        stem, dot, ext = self.name.rpartition(".")
        return ext.lower() if dot and stem else ""


def _int(value: object) -> int | None:
    try:
        return int(value)  # type: ignore[call-overload]  # whatever Slack sent: a failure is None
    except (TypeError, ValueError):
        return None


# -- what a file is for the model ---------------------------------------------------------------------------

_IMAGE_MIMETYPES = {"image/png": "png", "image/jpeg": "jpeg", "image/jpg": "jpeg", "image/pjpeg": "jpeg",
                    "image/gif": "gif", "image/webp": "webp"}
_IMAGE_TYPES = {"png": "png", "jpg": "jpeg", "jpeg": "jpeg", "gif": "gif", "webp": "webp"}  # filetype, extension
_DOCUMENT_MIMETYPES = {
    "application/pdf": "pdf",
    "text/csv": "csv",
    "application/msword": "doc",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": "docx",
    "application/vnd.ms-excel": "xls",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": "xlsx",
    "text/html": "html",
}
_DOCUMENT_TYPES = {"pdf": "pdf", "csv": "csv", "doc": "doc", "docx": "docx", "xls": "xls", "xlsx": "xlsx",
                   "html": "html", "htm": "html"}
# Slack's filetypes and the extensions that are text, each with the language its code fence names.
_TEXT_TYPES = {
    "text": "text", "txt": "text", "log": "text", "markdown": "markdown", "md": "markdown",
    "python": "python", "py": "python", "javascript": "javascript", "js": "javascript",
    "typescript": "typescript", "ts": "typescript", "json": "json", "yaml": "yaml", "yml": "yaml",
    "shell": "shell", "sh": "shell", "bash": "shell", "go": "go", "rust": "rust", "rs": "rust",
    "java": "java", "kotlin": "kotlin", "kt": "kotlin", "c": "c", "h": "c", "cpp": "cpp", "csharp": "csharp",
    "cs": "csharp", "ruby": "ruby", "rb": "ruby", "php": "php", "swift": "swift", "scala": "scala",
    "sql": "sql", "toml": "toml", "ini": "ini", "xml": "xml", "css": "css", "diff": "diff",
    "dockerfile": "dockerfile", "powershell": "powershell", "ps1": "powershell", "tsv": "text",
}
_TEXT_MIMETYPES = {"application/json": "json", "application/xml": "xml", "application/x-yaml": "yaml",
                   "application/yaml": "yaml", "application/javascript": "javascript",
                   "application/x-sh": "shell", "application/sql": "sql", "application/toml": "toml",
                   "text/markdown": "markdown", "text/x-markdown": "markdown"}


def kind_of(file: SlackFile) -> Reading | None:
    """How the model reads `file`, or None when it cannot (an unsupported kind, or not available).

    A snippet is TEXT whatever its language. Otherwise Slack's filetype decides, then the mimetype, then the
    name's extension; text/* mimetypes other than HTML and CSV are TEXT."""
    if not file.available:
        return None
    if file.mode == "snippet":
        return Reading(Kind.TEXT, _TEXT_TYPES.get(file.filetype, file.filetype or "text"))
    if file.mode != "hosted":
        return None  # a post (space) or another kind Slack keeps as something else than the file's bytes
    for key in (file.filetype, file.mimetype, file.extension):
        reading = _reading(key)
        if reading is not None:
            return reading
    if file.mimetype.startswith("text/"):
        return Reading(Kind.TEXT, "text")
    return None


def _reading(key: str) -> Reading | None:
    if not key:
        return None
    image = _IMAGE_MIMETYPES.get(key) or _IMAGE_TYPES.get(key)
    if image:
        return Reading(Kind.IMAGE, image)
    document = _DOCUMENT_MIMETYPES.get(key) or _DOCUMENT_TYPES.get(key)
    if document:
        return Reading(Kind.DOCUMENT, document)
    text = _TEXT_TYPES.get(key) or _TEXT_MIMETYPES.get(key)
    return Reading(Kind.TEXT, text) if text else None


# -- checking what was downloaded ---------------------------------------------------------------------------

_MAGIC = {
    "png": (b"\x89PNG\r\n\x1a\n",),
    "jpeg": (b"\xff\xd8\xff",),
    "gif": (b"GIF87a", b"GIF89a"),
    "doc": (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1",),  # OLE compound file
    "xls": (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1",),
    "docx": (b"PK\x03\x04",),  # a zip
    "xlsx": (b"PK\x03\x04",),
}


def is_text(data: bytes) -> bool:
    """Valid UTF-8 (a byte order mark allowed) without NUL bytes."""
    try:
        data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return False
    return b"\x00" not in data


def matches_magic(reading: Reading, data: bytes) -> bool:
    """Whether `data` is of the type `reading` declares, by its first bytes: the signature of an image, PDF
    or Office file; for HTML, CSV, txt, md and TEXT, UTF-8 text, and not an HTML page unless HTML was meant."""
    if not data:
        return False
    fmt = reading.format
    if fmt in _MAGIC:
        return data.startswith(_MAGIC[fmt])
    if fmt == "webp":
        return data[:4] == b"RIFF" and data[8:12] == b"WEBP"
    if fmt == "pdf":
        return b"%PDF-" in data[:1024]  # readers find the header within the first 1,024 bytes
    if reading.kind is Kind.IMAGE:
        return False
    return is_text(data) and (fmt == "html" or not looks_like_html(data))


def check_download(reading: Reading, data: bytes, limits: "Limits") -> Reason | None:
    """Why a download cannot go to the model (NO_ACCESS, TOO_LARGE, NOT_WHAT_IT_SAYS), or None when it can.
    Slack's sign-in page for a file expected to be HTML cannot be told apart here: the caller may compare the
    response's Content-Type."""
    if reading.format != "html" and looks_like_html(data):
        return Reason.NO_ACCESS
    if len(data) > limits.file_bytes(reading.kind):
        return Reason.TOO_LARGE
    if not matches_magic(reading, data):
        return Reason.NOT_WHAT_IT_SAYS
    return None


# -- document names -----------------------------------------------------------------------------------------

_NOT_ALLOWED = re.compile(r"[^A-Za-z0-9\-()\[\]]+")


def document_name(name: str, taken: set[str]) -> str:
    """A name Converse takes for a document block, from the file's name: ASCII letters (accents dropped),
    digits, hyphens, parentheses and square brackets, every other run of characters one space ("Q3
    report.v2.pdf" → "Q3 report v2 pdf", so the extension still shows); "document" when nothing is left; at
    most `NAME_CHARS` characters; unlike every name in `taken` (ignoring case: " (2)", " (3)", … is added).
    `taken` is not changed: add the name to it."""
    folded = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii")
    base = _NOT_ALLOWED.sub(" ", folded).strip() or "document"
    lowered = {other.lower() for other in taken}
    count = 1
    while True:
        suffix = f" ({count})" if count > 1 else ""
        candidate = base[: NAME_CHARS - len(suffix)].rstrip() + suffix
        if candidate.lower() not in lowered:
            return candidate
        count += 1


# -- choosing -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Limits:
    """What one reply may read. `kinds`: the FILES_READ kinds (images, documents, text). `file_bytes`: per
    file, for images and documents within Bedrock's ceilings. `reply_bytes`: all files of a reply together
    (they are held in memory while the model answers). `text_chars`: each text file's characters, the rest
    cut. Raises ValueError for an unknown kind or a limit outside its range."""

    kinds: frozenset[str] = frozenset(FILE_KINDS)
    max_file_bytes: int = DOCUMENT_BYTES
    reply_bytes: int = 10_000_000
    max_images: int = MAX_IMAGES
    max_documents: int = MAX_DOCUMENTS
    text_chars: int = TEXT_CHARS

    def __post_init__(self) -> None:
        unknown = set(self.kinds) - set(FILE_KINDS)
        if unknown:
            raise ValueError(f"unknown kinds of file: {', '.join(sorted(unknown))}")
        for label, value, most in (("max_images", self.max_images, MAX_IMAGES),
                                   ("max_documents", self.max_documents, MAX_DOCUMENTS)):
            if not 0 <= value <= most:
                raise ValueError(f"{label} must be from 0 to {most}")
        if self.max_file_bytes < 1 or self.reply_bytes < 1 or self.text_chars < 1:
            raise ValueError("the byte and character limits must be positive")

    def reads(self, kind: Kind) -> bool:
        return kind.setting in self.kinds

    def file_bytes(self, kind: Kind) -> int:
        """The most bytes one file of `kind` may have: the configured limit, within Bedrock's ceiling."""
        ceiling = {Kind.IMAGE: IMAGE_BYTES, Kind.DOCUMENT: DOCUMENT_BYTES}.get(kind)
        return self.max_file_bytes if ceiling is None else min(self.max_file_bytes, ceiling)

    def count(self, kind: Kind) -> int | None:
        """How many files of `kind` one request may hold; None: no count (text)."""
        return {Kind.IMAGE: self.max_images, Kind.DOCUMENT: self.max_documents}.get(kind)


@dataclass(frozen=True)
class FilesSettings:
    """Which files people share are read, and how much of them (FILES_READ, FILE_MAX_MB,
    FILES_MAX_MB_PER_REPLY, FILES_READ_SECONDS)."""

    read: frozenset[str] = frozenset(FILE_KINDS)  # images, documents, text
    file_max_mb: float = 4.5  # one file (images at most Bedrock's 3.75)
    max_mb_per_reply: float = 10.0  # all the files of one reply together (held in memory while the model answers)
    read_seconds: float = 20.0  # downloading one reply's files, all of them together

    @property
    def limits(self) -> Limits:
        return Limits(kinds=self.read, max_file_bytes=int(self.file_max_mb * 1e6),
                      reply_bytes=int(self.max_mb_per_reply * 1e6))


@dataclass(frozen=True)
class LeftOut:
    """A file that does not reach the model, and why. `limit`: the number the reason is about (bytes for
    TOO_LARGE and NO_ROOM, pixels for TOO_WIDE, a count for TOO_MANY), else None."""

    file: SlackFile
    reason: Reason
    kind: Kind | None = None
    limit: int | None = None

    def for_note(self) -> tuple[str, str, str | None, int | None]:
        """Plain values for `bot.notes.files_note`: name, reason, kind, limit."""
        return self.file.name, self.reason.value, self.kind.value if self.kind else None, self.limit


@dataclass(frozen=True)
class Choice:
    """The files to download, newest first, and those left out."""

    chosen: list[tuple[SlackFile, Reading]] = field(default_factory=list)
    left_out: list[LeftOut] = field(default_factory=list)


def choose(files_newest_first: Iterable[SlackFile], limits: Limits) -> Choice:
    """The files to download, by the sizes Slack declares (a download may still prove larger): newest first,
    each of a kind the model reads and FILES_READ names, within its per-file bytes, Bedrock's 8,000 pixels a
    side for images, the image and document counts, and the bytes for the reply. A file that does not fit
    leaves room for an older, smaller one."""
    chosen: list[tuple[SlackFile, Reading]] = []
    left_out: list[LeftOut] = []
    counts: dict[Kind, int] = {}
    used = 0
    for file in files_newest_first:
        reading = kind_of(file)
        kind = reading.kind if reading else None
        if not file.available:
            left_out.append(LeftOut(file, Reason.NOT_AVAILABLE))
        elif reading is None:
            left_out.append(LeftOut(file, Reason.KIND_UNSUPPORTED))
        elif not limits.reads(reading.kind):
            left_out.append(LeftOut(file, Reason.KIND_NOT_READ, kind))
        elif file.size > limits.file_bytes(reading.kind):
            left_out.append(LeftOut(file, Reason.TOO_LARGE, kind, limits.file_bytes(reading.kind)))
        elif reading.kind is Kind.IMAGE and max(file.width or 0, file.height or 0) > MAX_IMAGE_SIDE:
            left_out.append(LeftOut(file, Reason.TOO_WIDE, kind, MAX_IMAGE_SIDE))
        elif (most := limits.count(reading.kind)) is not None and counts.get(reading.kind, 0) >= most:
            left_out.append(LeftOut(file, Reason.TOO_MANY, kind, most))
        elif used + file.size > limits.reply_bytes:
            left_out.append(LeftOut(file, Reason.NO_ROOM, kind, limits.reply_bytes))
        else:
            chosen.append((file, reading))
            counts[reading.kind] = counts.get(reading.kind, 0) + 1
            used += file.size
    return Choice(chosen, left_out)


def download_failed(file: SlackFile, reading: Reading, reason: Reason, limits: Limits) -> LeftOut:
    """A chosen file whose download did not give the model something to read: NO_ACCESS, DELETED,
    NOT_WHAT_IT_SAYS, TIMED_OUT, SLACK_FAILED, or TOO_LARGE (it proved larger than declared)."""
    if reason not in DOWNLOAD_REASONS:
        raise ValueError(f"{reason} is not a reason a download fails for")
    limit = limits.file_bytes(reading.kind) if reason is Reason.TOO_LARGE else None
    return LeftOut(file, reason, reading.kind, limit)


# -- content blocks -----------------------------------------------------------------------------------------


def to_blocks(reading: Reading, file: SlackFile, data: bytes, name: str, *, text_chars: int = TEXT_CHARS) -> list[dict]:
    """The Converse content blocks for a downloaded file that passed `check_download`. An image comes after a short
    text naming it (so the model can tell several apart); a document is one block named `name` (from
    `document_name`); a TEXT file is one text block: the file's name, then its content (UTF-8) in a code fence
    longer than any run of backticks in it, cut to `text_chars` characters with a note of its length."""
    if reading.kind is Kind.IMAGE:
        return [{"text": f"[image: {file.name}]"}, {"image": {"format": reading.format, "source": {"bytes": data}}}]
    if reading.kind is Kind.DOCUMENT:
        return [{"document": {"format": reading.format, "name": name, "source": {"bytes": data}}}]
    text = data.decode("utf-8-sig")
    if len(text) > text_chars:
        text = text[:text_chars] + _CUT.format(length=len(text))
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    language = "" if reading.format == "text" else reading.format
    return [{"text": f"[file: {file.name}]\n{fence}{language}\n{text}\n{fence}"}]
