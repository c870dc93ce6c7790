"""registers commands."""

COMMANDS: list = []
