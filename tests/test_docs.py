"""The documents a user reads: every setting the bot reads is in `.env.example` and in docs/settings.md; the
README stays short; every link between the documents leads somewhere."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def settings_read() -> set[str]:
    source = (ROOT / "bot" / "settings.py").read_text()
    return set(re.findall(r'\bread\.\w+\(\s*"([A-Z_]+)"', source))


def test_every_setting_is_in_env_example_and_the_settings_document():
    names = settings_read()
    assert {"SLACK_BOT_TOKEN", "BEDROCK_MODEL_ID", "SLACK_SIGNING_SECRET", "SHUTDOWN_GRACE_SECONDS"} <= names
    example = (ROOT / ".env.example").read_text()
    settings = (ROOT / "docs" / "settings.md").read_text()
    assert not [name for name in names if not re.search(rf"^#? ?{name}=", example, re.M)]
    assert not [name for name in names if f"`{name}`" not in settings]


def test_the_readme_fits_on_a_few_screens():
    assert len((ROOT / "README.md").read_text().splitlines()) < 250


def anchors(path: Path) -> set[str]:
    """GitHub's anchors for a Markdown file's headings."""
    found = set()
    for heading in re.findall(r"^#+ (.+)$", path.read_text(), re.M):
        slug = re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")
        found.add(slug)
    return found


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda path: path.name)
def test_every_link_between_the_documents_leads_somewhere(document):
    text = re.sub(r"```.*?```|`[^`\n]*`", "", document.read_text(), flags=re.S)  # code is not a link
    broken = []
    for target in re.findall(r"\]\(([^)\s]+)\)", text):
        if re.match(r"[a-z]+:", target):
            continue  # a web address
        path, _, anchor = target.partition("#")
        resolved = (document.parent / path).resolve() if path else document
        if not resolved.exists() or (anchor and resolved.suffix == ".md" and anchor not in anchors(resolved)):
            broken.append(target)
    assert not broken, f"{document.name}: {broken}"
