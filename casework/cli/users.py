"""users commands."""

COMMANDS: list = []
