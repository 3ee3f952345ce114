"""Files shared with a question: what the model reads them as, which are chosen, how downloads are checked,
the names and blocks they become, and the note on those left out. Byte fixtures are real file starts."""

from __future__ import annotations

import re
import struct
import zlib

import pytest

from bot import notes
from bot.conversation import files
from bot.conversation.files import (
    Kind, Limits, LeftOut, Reading, Reason, SlackFile, check_download, choose, document_name, download_failed,
    kind_of, looks_like_html, matches_magic, to_blocks,
)


def _png_1x1(width: int = 1, height: int = 1) -> bytes:
    """A PNG of one red pixel; `width` and `height` are what its header says (a header that lies, if not 1)."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8 bits, truecolour
    pixels = zlib.compress(b"\x00\xff\x00\x00")  # filter byte, one red pixel
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")


PNG = _png_1x1()
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00\xff\xd9"
GIF = b"GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff!\xf9\x04\x01\x00\x00\x00\x00,\x00\x00\x00\x00"
WEBP = b"RIFF\x1a\x00\x00\x00WEBPVP8L\x0d\x00\x00\x00\x2f\x00\x00\x00\x10\x07\x10\x11\x11\x88\x88\xfe\x07\x00"
PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
OLE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 24
ZIP = b"PK\x03\x04\x14\x00\x00\x00\x08\x00" + b"\x00" * 20
CSV = "name,amount\nÅsa,3\n".encode("utf-8")
HTML = b"<!DOCTYPE html>\n<html><head><title>Slack</title></head><body>Sign in to Slack</body></html>"

IMAGE = Reading(Kind.IMAGE, "png")
PDF_DOC = Reading(Kind.DOCUMENT, "pdf")
CSV_DOC = Reading(Kind.DOCUMENT, "csv")
HTML_DOC = Reading(Kind.DOCUMENT, "html")
CODE = Reading(Kind.TEXT, "python")


def test_the_png_fixture_is_a_real_image():
    assert zlib.decompress(PNG[PNG.index(b"IDAT") + 4:PNG.index(b"IEND") - 8]) == b"\x00\xff\x00\x00"


def slack_file(name="report.pdf", **fields) -> SlackFile:
    d = {"id": "F1", "name": name, "mimetype": "", "filetype": "", "size": 1000, "mode": "hosted",
         "url_private": "https://files.slack.com/files-pri/T-F1/x", **fields}
    return SlackFile.from_slack(d, "1700000000.000100")


# -- SlackFile ----------------------------------------------------------------------------------------------

def test_a_slack_file_dict_becomes_a_slack_file_with_the_download_url_preferred():
    file = SlackFile.from_slack({
        "id": "F9", "name": "shot.png", "title": "Screenshot", "mimetype": "image/png", "filetype": "png",
        "size": 2048, "mode": "hosted", "url_private": "https://a/view", "url_private_download": "https://a/dl",
        "original_w": 1280, "original_h": 720}, "1700000000.000200")
    assert file == SlackFile("F9", "shot.png", "Screenshot", "image/png", "png", 2048, "https://a/dl", "hosted",
                             "1700000000.000200", 1280, 720, False)
    assert file.extension == "png" and file.available


def test_a_slack_file_without_a_download_url_uses_url_private_and_missing_fields_have_defaults():
    file = SlackFile.from_slack({"id": "F2", "url_private": "https://a/view"}, "1.0")
    assert (file.url, file.name, file.title, file.size, file.mode, file.width, file.height) == (
        "https://a/view", "F2", "F2", 0, "hosted", None, None)
    assert file.extension == ""


@pytest.mark.parametrize("fields", [{"mode": "external"}, {"mode": "tombstone"}, {"is_external": True},
                                    {"url_private": None}])
def test_external_deleted_or_url_less_files_are_not_available(fields):
    assert not slack_file(**fields).available


# -- kind_of ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name, fields, reading", [
    ("a.png", {"mimetype": "image/png", "filetype": "png"}, Reading(Kind.IMAGE, "png")),
    ("a.jpg", {"mimetype": "image/jpeg", "filetype": "jpg"}, Reading(Kind.IMAGE, "jpeg")),
    ("a.gif", {"mimetype": "image/gif", "filetype": "gif"}, Reading(Kind.IMAGE, "gif")),
    ("a.webp", {"mimetype": "image/webp", "filetype": "webp"}, Reading(Kind.IMAGE, "webp")),
    ("a.pdf", {"mimetype": "application/pdf", "filetype": "pdf"}, Reading(Kind.DOCUMENT, "pdf")),
    ("a.csv", {"mimetype": "text/csv", "filetype": "csv"}, Reading(Kind.DOCUMENT, "csv")),
    ("a.doc", {"mimetype": "application/msword", "filetype": "doc"}, Reading(Kind.DOCUMENT, "doc")),
    ("a.docx", {"filetype": "docx"}, Reading(Kind.DOCUMENT, "docx")),
    ("a.xls", {"mimetype": "application/vnd.ms-excel"}, Reading(Kind.DOCUMENT, "xls")),
    ("a.xlsx", {"filetype": "xlsx"}, Reading(Kind.DOCUMENT, "xlsx")),
    ("a.html", {"mimetype": "text/html", "filetype": "html"}, Reading(Kind.DOCUMENT, "html")),
    ("a.txt", {"mimetype": "text/plain", "filetype": "text"}, Reading(Kind.TEXT, "text")),
    ("README.md", {"mimetype": "text/markdown", "filetype": "markdown"}, Reading(Kind.TEXT, "markdown")),
    ("main.py", {"mimetype": "text/x-python", "filetype": "python"}, Reading(Kind.TEXT, "python")),
    ("app.js", {"mimetype": "application/javascript", "filetype": "javascript"}, Reading(Kind.TEXT, "javascript")),
    ("a.json", {"mimetype": "application/json", "filetype": "json"}, Reading(Kind.TEXT, "json")),
    ("ci.yml", {"mimetype": "", "filetype": "yaml"}, Reading(Kind.TEXT, "yaml")),
    ("deploy.sh", {"mimetype": "application/x-sh", "filetype": "shell"}, Reading(Kind.TEXT, "shell")),
    # Slack calls it binary: the extension still tells
    ("server.log", {"mimetype": "application/octet-stream", "filetype": "binary"}, Reading(Kind.TEXT, "text")),
    ("q.sql", {"filetype": "binary"}, Reading(Kind.TEXT, "sql")),
    ("Cargo.toml", {}, Reading(Kind.TEXT, "toml")),
    ("notes.weird", {"mimetype": "text/x-weird"}, Reading(Kind.TEXT, "text")),
    ("Pasted code", {"mode": "snippet", "filetype": "go"}, Reading(Kind.TEXT, "go")),
    ("page.html", {"mode": "snippet", "filetype": "html", "mimetype": "text/html"}, Reading(Kind.TEXT, "html")),
    ("a.zip", {"mimetype": "application/zip", "filetype": "zip"}, None),
    ("a.mp4", {"mimetype": "video/mp4", "filetype": "mp4"}, None),
    ("a.heic", {"mimetype": "image/heic", "filetype": "heic"}, None),
    ("a.pdf", {"filetype": "pdf", "mode": "external"}, None),
    ("a.pdf", {"filetype": "pdf", "mode": "tombstone"}, None),
    ("Post", {"filetype": "space", "mode": "space"}, None),
])
def test_what_a_file_is_for_the_model(name, fields, reading):
    assert kind_of(slack_file(name, **fields)) == reading


# -- magic numbers ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("reading, data", [
    (Reading(Kind.IMAGE, "png"), PNG), (Reading(Kind.IMAGE, "jpeg"), JPEG), (Reading(Kind.IMAGE, "gif"), GIF),
    (Reading(Kind.IMAGE, "gif"), b"GIF87a" + GIF[6:]), (Reading(Kind.IMAGE, "webp"), WEBP),
    (PDF_DOC, PDF), (Reading(Kind.DOCUMENT, "doc"), OLE), (Reading(Kind.DOCUMENT, "xls"), OLE),
    (Reading(Kind.DOCUMENT, "docx"), ZIP), (Reading(Kind.DOCUMENT, "xlsx"), ZIP),
    (CSV_DOC, CSV), (CSV_DOC, b"\xef\xbb\xbf" + CSV), (HTML_DOC, HTML), (CODE, b"print('hi')\n"),
    (Reading(Kind.TEXT, "html"), HTML),
])
def test_bytes_of_the_declared_type_match(reading, data):
    assert matches_magic(reading, data)


@pytest.mark.parametrize("reading, data", [
    (Reading(Kind.IMAGE, "png"), JPEG), (Reading(Kind.IMAGE, "jpeg"), PNG), (Reading(Kind.IMAGE, "gif"), b"GIF90a"),
    (Reading(Kind.IMAGE, "webp"), b"RIFF\x00\x00\x00\x00WAVEfmt "), (Reading(Kind.IMAGE, "png"), b""),
    (PDF_DOC, ZIP), (PDF_DOC, HTML), (Reading(Kind.DOCUMENT, "doc"), ZIP), (Reading(Kind.DOCUMENT, "docx"), OLE),
    (CSV_DOC, HTML), (CSV_DOC, "Åsa".encode("latin-1")), (CSV_DOC, b"a,b\x00\n"), (CODE, PNG), (CODE, HTML),
    (Reading(Kind.TEXT, "markdown"), b"  \n<html><body>x</body></html>"),
])
def test_bytes_of_another_type_do_not_match(reading, data):
    assert not matches_magic(reading, data)


def test_an_html_page_is_told_from_text_that_mentions_html():
    assert looks_like_html(HTML)
    assert looks_like_html(b"\xef\xbb\xbf\n  <HTML lang=en><body></body></HTML>")
    assert not looks_like_html(b"how do I write <html> in markdown?")
    assert not looks_like_html(CSV)


def test_a_download_is_checked_for_the_sign_in_page_its_size_and_its_type():
    limits = Limits(max_file_bytes=200)
    assert check_download(PDF_DOC, HTML, limits) is Reason.NO_ACCESS
    assert check_download(IMAGE, HTML, limits) is Reason.NO_ACCESS
    assert check_download(CODE, HTML, limits) is Reason.NO_ACCESS
    assert check_download(PDF_DOC, PDF + b" " * 200, limits) is Reason.TOO_LARGE
    assert check_download(IMAGE, JPEG, limits) is Reason.NOT_WHAT_IT_SAYS
    assert check_download(IMAGE, PNG, limits) is None
    assert check_download(HTML_DOC, HTML, limits) is None  # an HTML file is HTML


# -- document names ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name, expected", [
    ("report.pdf", "report pdf"),
    ("Q3_results  final.v2.xlsx", "Q3 results final v2 xlsx"),
    ("Résumé (draft) [v1].docx", "Resume (draft) [v1] docx"),
    ("  ~~notes~~.md  ", "notes md"),
    ("報告.pdf", "pdf"),
    ("報告", "document"),
    ("", "document"),
    ("a-b_c.csv", "a-b c csv"),
])
def test_a_document_name_keeps_only_what_converse_allows(name, expected):
    made = document_name(name, set())
    assert made == expected
    assert re.fullmatch(r"[A-Za-z0-9\-()\[\]]+( [A-Za-z0-9\-()\[\]]+)*", made)


def test_a_document_name_is_unique_ignoring_case():
    assert document_name("report.pdf", {"report pdf"}) == "report pdf (2)"
    assert document_name("Report.pdf", {"report pdf", "report pdf (2)"}) == "Report pdf (3)"


def test_a_long_document_name_is_cut_with_room_for_its_number():
    name = "x" * 300 + ".pdf"
    assert document_name(name, set()) == "x" * files.NAME_CHARS
    assert document_name(name, {"x" * files.NAME_CHARS}) == "x" * (files.NAME_CHARS - 4) + " (2)"
    assert document_name("a " * 60, set()) == ("a " * 50).rstrip()  # a cut never ends in a space


# -- Limits ---------------------------------------------------------------------------------------------------

def test_limits_keep_within_bedrocks_ceilings():
    limits = Limits(max_file_bytes=10_000_000)
    assert limits.file_bytes(Kind.IMAGE) == 3_750_000
    assert limits.file_bytes(Kind.DOCUMENT) == 4_500_000
    assert limits.file_bytes(Kind.TEXT) == 10_000_000
    assert Limits(max_file_bytes=1_000).file_bytes(Kind.IMAGE) == 1_000
    assert (limits.count(Kind.IMAGE), limits.count(Kind.DOCUMENT), limits.count(Kind.TEXT)) == (20, 5, None)
    assert limits.reads(Kind.IMAGE) and not Limits(kinds=frozenset({"text"})).reads(Kind.IMAGE)


@pytest.mark.parametrize("fields", [{"max_images": 21}, {"max_documents": 6}, {"max_images": -1},
                                    {"kinds": frozenset({"videos"})}, {"reply_bytes": 0}, {"text_chars": 0}])
def test_limits_beyond_bedrocks_or_unknown_kinds_are_refused(fields):
    with pytest.raises(ValueError):
        Limits(**fields)


# -- choose ---------------------------------------------------------------------------------------------------

def _image(n: int, size=1000, **fields) -> SlackFile:
    return slack_file(f"shot{n}.png", mimetype="image/png", filetype="png", size=size, **fields)


def _pdf(n: int, size=1000) -> SlackFile:
    return slack_file(f"doc{n}.pdf", mimetype="application/pdf", filetype="pdf", size=size)


def _reasons(choice):
    return [(left.file.name, left.reason) for left in choice.left_out]


def test_every_file_that_fits_is_chosen_newest_first_with_its_reading():
    newest_first = [_image(1), _pdf(1), slack_file("x.py", filetype="python")]
    choice = choose(newest_first, Limits())
    assert choice.chosen == [(newest_first[0], Reading(Kind.IMAGE, "png")),
                             (newest_first[1], Reading(Kind.DOCUMENT, "pdf")),
                             (newest_first[2], Reading(Kind.TEXT, "python"))]
    assert choice.left_out == []


def test_files_the_model_cannot_take_or_slack_does_not_hold_are_left_out_for_that():
    choice = choose([slack_file("a.zip", filetype="zip"), slack_file("b.pdf", filetype="pdf", mode="external"),
                     slack_file("c.pdf", filetype="pdf", mode="tombstone")], Limits())
    assert choice.chosen == []
    assert _reasons(choice) == [("a.zip", Reason.KIND_UNSUPPORTED), ("b.pdf", Reason.NOT_AVAILABLE),
                                ("c.pdf", Reason.NOT_AVAILABLE)]


def test_kinds_the_setting_leaves_out_are_not_read():
    choice = choose([_image(1), _pdf(1)], Limits(kinds=frozenset({"documents"})))
    assert [file.name for file, _ in choice.chosen] == ["doc1.pdf"]
    assert choice.left_out == [LeftOut(_image(1), Reason.KIND_NOT_READ, Kind.IMAGE)]


def test_a_file_over_its_kinds_bytes_is_too_large_and_an_older_smaller_one_still_fits():
    choice = choose([_image(1, size=3_750_001), _pdf(1, size=4_500_001), _pdf(2, size=4_500_000)], Limits())
    assert [file.name for file, _ in choice.chosen] == ["doc2.pdf"]
    assert choice.left_out == [LeftOut(_image(1, size=3_750_001), Reason.TOO_LARGE, Kind.IMAGE, 3_750_000),
                               LeftOut(_pdf(1, size=4_500_001), Reason.TOO_LARGE, Kind.DOCUMENT, 4_500_000)]


def test_an_image_over_8000_pixels_a_side_is_left_out():
    wide, tall = _image(1, original_w=8001, original_h=10), _image(2, original_w=10, original_h=8001)
    choice = choose([wide, tall, _image(3, original_w=8000, original_h=8000)], Limits())
    assert [file.name for file, _ in choice.chosen] == ["shot3.png"]
    assert choice.left_out == [LeftOut(wide, Reason.TOO_WIDE, Kind.IMAGE, 8000),
                               LeftOut(tall, Reason.TOO_WIDE, Kind.IMAGE, 8000)]


def test_the_newest_images_and_documents_are_kept_up_to_their_counts():
    images = [_image(n) for n in range(22)]
    documents = [_pdf(n) for n in range(6)]
    choice = choose(images + documents, Limits())
    assert [file.name for file, _ in choice.chosen] == [f"shot{n}.png" for n in range(20)] + [
        f"doc{n}.pdf" for n in range(5)]
    assert _reasons(choice) == [("shot20.png", Reason.TOO_MANY), ("shot21.png", Reason.TOO_MANY),
                                ("doc5.pdf", Reason.TOO_MANY)]
    assert [left.limit for left in choice.left_out] == [20, 20, 5]
    assert len(choose(images, Limits(max_images=2)).chosen) == 2


def test_files_beyond_the_replys_bytes_have_no_room():
    choice = choose([_pdf(1, size=600), _pdf(2, size=500), _pdf(3, size=400)], Limits(reply_bytes=1000))
    assert [file.name for file, _ in choice.chosen] == ["doc1.pdf", "doc3.pdf"]
    assert choice.left_out == [LeftOut(_pdf(2, size=500), Reason.NO_ROOM, Kind.DOCUMENT, 1000)]


def test_a_failed_download_becomes_a_file_left_out():
    file = _pdf(1)
    assert download_failed(file, PDF_DOC, Reason.NO_ACCESS, Limits()) == LeftOut(file, Reason.NO_ACCESS, Kind.DOCUMENT)
    for reason in (Reason.DELETED, Reason.NOT_WHAT_IT_SAYS, Reason.TIMED_OUT):
        assert download_failed(file, PDF_DOC, reason, Limits()).reason is reason
    assert download_failed(file, PDF_DOC, Reason.TOO_LARGE, Limits(max_file_bytes=100)).limit == 100
    with pytest.raises(ValueError):
        download_failed(file, PDF_DOC, Reason.TOO_MANY, Limits())


# -- blocks ---------------------------------------------------------------------------------------------------

def test_an_image_becomes_an_image_block_after_its_name():
    assert to_blocks(IMAGE, _image(1), PNG, "ignored") == [
        {"text": "[image: shot1.png]"}, {"image": {"format": "png", "source": {"bytes": PNG}}}]


def test_a_document_becomes_a_named_document_block():
    assert to_blocks(CSV_DOC, slack_file("a.csv"), CSV, "a csv") == [
        {"document": {"format": "csv", "name": "a csv", "source": {"bytes": CSV}}}]


def test_a_text_file_is_inlined_in_a_fence_under_its_name():
    [block] = to_blocks(CODE, slack_file("main.py"), b"\xef\xbb\xbfprint('h\xc3\xa9')\n", "main py")
    assert block == {"text": "[file: main.py]\n```python\nprint('hé')\n\n```"}
    [plain] = to_blocks(Reading(Kind.TEXT, "text"), slack_file("a.txt"), b"hi", "a txt")
    assert plain == {"text": "[file: a.txt]\n```\nhi\n```"}


def test_a_fence_is_longer_than_any_run_of_backticks_in_the_file():
    [block] = to_blocks(Reading(Kind.TEXT, "markdown"), slack_file("r.md"), b"````\ncode\n````", "r md")
    assert block["text"].startswith("[file: r.md]\n`````markdown\n") and block["text"].endswith("\n`````")


def test_a_long_text_file_is_cut_with_its_length():
    [block] = to_blocks(CODE, slack_file("big.py"), b"x" * 50, "big py", text_chars=10)
    assert block["text"] == "[file: big.py]\n```python\nxxxxxxxxxx\n[…cut here: the file was 50 characters long]\n```"


# -- the note ------------------------------------------------------------------------------------------------

def test_no_files_left_out_means_no_note():
    assert notes.files_note([]) is None


def test_the_note_names_each_file_and_why():
    left_out = [
        LeftOut(slack_file("report.zip"), Reason.KIND_UNSUPPORTED),
        LeftOut(_pdf(1), Reason.TOO_LARGE, Kind.DOCUMENT, 4_500_000),
        *(LeftOut(_image(n), Reason.TOO_MANY, Kind.IMAGE, 20) for n in range(3)),
    ]
    assert notes.files_note(left.for_note() for left in left_out) == (
        ":paperclip: _I couldn't read: report.zip (a kind of file I can't read); doc1.pdf (over the 4.5 MB "
        "limit); shot0.png, shot1.png, shot2.png (over the 20 images I can read at once)._")


@pytest.mark.parametrize("entry, says", [
    (("a.pdf", "not_available", None, None), "a.pdf (not stored in Slack, or deleted)"),
    (("a.png", "kind_not_read", "image", None), "a.png (this bot is set not to read images)"),
    (("a.py", "kind_not_read", "text", None), "a.py (this bot is set not to read text files)"),
    (("a.png", "too_large", "image", 3_750_000), "a.png (over the 3.75 MB limit)"),
    (("a.png", "too_wide", "image", 8000), "a.png (over 8,000 pixels a side)"),
    (("a.pdf", "too_many", "document", 5), "a.pdf (over the 5 documents I can read at once)"),
    (("a.pdf", "no_room", "document", 10_000_000), "a.pdf (no room left: 10 MB of files at most for one answer)"),
    (("a.pdf", "no_access", "document", None), "a.pdf (the app needs the files:read scope: an admin should add"),
    (("a.pdf", "deleted", "document", None), "a.pdf (deleted before I could read it)"),
    (("a.pdf", "not_what_it_says", "document", None), "a.pdf (its content isn't what its name says)"),
    (("a.pdf", "timed_out", "document", None), "a.pdf (it took too long to download)"),
])
def test_the_note_says_why_for_every_reason(entry, says):
    assert says in notes.files_note([entry])


def test_every_reason_has_its_own_words():
    said = {notes.files_note([("a", reason.value, "image", 1)]) for reason in Reason}
    assert len(said) == len(Reason)


def test_files_left_out_for_one_reason_are_listed_together_and_many_are_counted():
    names = [("a.pdf", "document"), ("b.png", "image"), ("c.py", "text"), ("d.pdf", "document"),
             ("e.pdf", "document")]
    note = notes.files_note([(name, Reason.NO_ACCESS, kind, None) for name, kind in names])
    assert note == (f":paperclip: _I couldn't read: a.pdf, b.png, c.py and 2 more ({notes.FILES_SCOPE_FIX})._")
    assert "files:read" in note and "reinstall" in note
    assert "each over the" in notes.files_note([("a.png", "too_large", "image", 9), ("b.png", "too_large", "image", 9)])


def test_file_names_cannot_become_slack_markup():
    note = notes.files_note([("<!channel> & co.exe", "kind_unsupported", None, None)])
    assert "&lt;!channel&gt; &amp; co.exe" in note and "<!channel>" not in note


def test_a_model_that_takes_no_files_is_said_plainly():
    assert notes.plain(notes.MODEL_TAKES_NO_FILES) == (
        "This model can't read images or documents, so I answered from the text.")
