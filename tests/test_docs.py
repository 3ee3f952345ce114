"""Every setting the bot reads is documented in `.env.example` and in README's settings table."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def settings_read() -> set[str]:
    source = (ROOT / "bot" / "settings.py").read_text()
    return set(re.findall(r'\bread\.\w+\(\s*"([A-Z_]+)"', source))


def test_every_setting_is_in_env_example_and_the_readme():
    names = settings_read()
    assert {"SLACK_BOT_TOKEN", "BEDROCK_MODEL_ID", "SLACK_SIGNING_SECRET", "SHUTDOWN_GRACE_SECONDS"} <= names
    example = (ROOT / ".env.example").read_text()
    readme = (ROOT / "README.md").read_text()
    assert not [name for name in names if not re.search(rf"^#? ?{name}=", example, re.M)]
    assert not [name for name in names if f"`{name}`" not in readme]
