"""Processes the commands start: each ends with the command that started it."""

from __future__ import annotations

import ctypes
import os
import signal
import sys
import threading
import time

_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
_PARENT_POLL = 1.0  # seconds between the fallback's looks at the parent


def die_with(parent: int) -> None:
    """Stop this worker when the command that started it dies. A parent killed by SIGKILL runs
    none of the pool's clean-up, and an idle worker waits for work for ever.

    On Linux the kernel sends SIGTERM when the parent dies (PR_SET_PDEATHSIG: strictly, when
    the thread that started the worker ends; the pool starts them from the command's own
    thread). Elsewhere, or if that fails, a daemon thread watches for this process being handed
    to another parent."""
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
        except (OSError, AttributeError):  # no usable libc: the thread below still watches
            pass
    # A parent that died before the request above was made sends no signal: look once now.
    if os.getppid() != parent:
        os.kill(os.getpid(), signal.SIGTERM)
    threading.Thread(target=_watch_parent, args=(parent,), name="parent-watch", daemon=True).start()


def _watch_parent(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(_PARENT_POLL)
    os.kill(os.getpid(), signal.SIGTERM)
