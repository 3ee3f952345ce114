"""The shape of the code: the stages import each other one way only, and the Slack-facing and wording modules
keep to their side."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BOT = ROOT / "bot"


def imports() -> dict[str, dict[str, set[str]]]:
    """part → part it imports → the modules that do, where a part is a package under bot/ (bot.slack) or a
    module at the top (bot.notes)."""
    def part(module: str) -> str:
        return ".".join(module.split(".")[:2])

    edges: dict[str, dict[str, set[str]]] = {}
    for path in BOT.rglob("*.py"):
        module = ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "bot":
                targets = [f"bot.{alias.name}" for alias in node.names] if node.module == "bot" else [node.module]
            elif isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names if alias.name.split(".")[0] == "bot"]
            else:
                continue
            for target in targets:
                if part(target) not in (part(module), "bot"):
                    edges.setdefault(part(module), {}).setdefault(part(target), set()).add(module)
    return edges


def test_no_part_of_the_bot_imports_a_part_that_imports_it():
    edges = imports()

    def reaches(start: str, goal: str, seen: set[str]) -> bool:
        return any(step == goal or (step not in seen and reaches(step, goal, seen | {step}))
                   for step in edges.get(start, {}))

    cycles = sorted(f"{a} → {b} (in {', '.join(sorted(via))}), and back"
                    for a, targets in edges.items() for b, via in targets.items() if reaches(b, a, {b}))
    assert not cycles, "\n".join(cycles)


def test_the_wording_imports_no_sdk_and_the_slack_edge_no_wording():
    notes = ast.parse((BOT / "notes.py").read_text())
    imported = {alias.name for node in ast.walk(notes) if isinstance(node, ast.Import) for alias in node.names}
    imported |= {node.module for node in ast.walk(notes) if isinstance(node, ast.ImportFrom) and node.module}
    assert not {name for name in imported if name.split(".")[0] in ("slack_sdk", "slack_bolt", "boto3", "botocore")}
    assert "bot.notes" not in imports().get("bot.slack", {})
