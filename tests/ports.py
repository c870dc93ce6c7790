"""A TCP port on 127.0.0.1 that nothing listens on: one the system just gave out and took back
(for a server to bind, or for a client to find closed)."""

from __future__ import annotations

import socket


def unused_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]
