"""demo commands."""

COMMANDS: list = []
