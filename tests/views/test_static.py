"""casework's own stylesheet: every rule closed. A missing brace nests every later rule inside
the one before it (CSS nesting), and the browser silently drops them all."""

from __future__ import annotations

from pathlib import Path

import tinycss2

import casework

STYLESHEET = Path(casework.__file__).parent / "static" / "casework.css"


def test_every_rule_of_the_stylesheet_is_closed_and_holds_only_declarations():
    rules = tinycss2.parse_stylesheet(
        STYLESHEET.read_text(), skip_comments=True, skip_whitespace=True
    )
    assert rules
    for rule in rules:
        assert rule.type == "qualified-rule", f"line {rule.source_line}: {rule.type}"
        inside = tinycss2.parse_blocks_contents(
            rule.content, skip_comments=True, skip_whitespace=True
        )
        stray = [item for item in inside if item.type != "declaration"]
        selector = tinycss2.serialize(rule.prelude).strip()
        assert not stray, f"{selector} (line {rule.source_line}) holds {stray[0].type}"
