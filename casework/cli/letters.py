"""Letter commands: render the letters waiting (the scan's, and any to retry)."""

from __future__ import annotations

import ctypes
import multiprocessing
import os
import signal
import sys
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import click
from flask import current_app
from flask.cli import with_appcontext

from casework.cli.progress import progress_bar
from casework.extensions import db

_CHUNK = 25  # jobs per task: small enough for a smooth progress bar
_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
_PARENT_POLL = 1.0  # seconds between the fallback's looks at the parent
_worker_app = None


def _start_worker(database_uri: str, parent: int) -> None:
    global _worker_app
    die_with(parent)
    from casework import create_app

    _worker_app = create_app({"SQLALCHEMY_DATABASE_URI": database_uri})
    _worker_app.app_context().push()


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


def _render_chunk(job_ids: list[int]) -> tuple[int, int]:
    from casework.documents.jobs import render_jobs

    try:
        return render_jobs(job_ids)
    finally:
        db.session.remove()


@click.command("render-letters")
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    default=os.cpu_count() or 1,
    show_default="the number of CPU cores",
    help="Processes rendering side by side.",
)
@with_appcontext
def render_letters_command(workers: int) -> None:
    """Render every letter waiting, in parallel; failed ones are retried and reported."""
    rendered, failed = render_waiting(workers)
    if not rendered + failed:
        click.echo("No letters are waiting.")
        return
    click.echo(f"Rendered {rendered} letter(s); {failed} failed and will be retried next time.")
    if failed:
        raise SystemExit(1)


def render_waiting(workers: int) -> tuple[int, int]:
    """Render every letter waiting, with a progress bar; (rendered, failed)."""
    from casework.documents.jobs import pending_jobs, render_jobs

    ids = pending_jobs()
    db.session.commit()  # hold no transaction while the workers write
    if not ids:
        return 0, 0
    chunks = [ids[i : i + _CHUNK] for i in range(0, len(ids), _CHUNK)]
    rendered = failed = 0
    with progress_bar("Rendering letters") as on_progress:
        if workers == 1:
            for chunk in chunks:
                done, bad = render_jobs(chunk)
                rendered, failed = rendered + done, failed + bad
                on_progress(rendered + failed, len(ids))
        else:
            uri = current_app.config["SQLALCHEMY_DATABASE_URI"]
            # spawn, not fork: a forked child would share the parent's database connections.
            context = multiprocessing.get_context("spawn")
            with ProcessPoolExecutor(
                max_workers=workers,
                mp_context=context,
                initializer=_start_worker,
                initargs=(uri, os.getpid()),
            ) as pool:
                for done, bad in pool.map(_render_chunk, chunks):
                    rendered, failed = rendered + done, failed + bad
                    on_progress(rendered + failed, len(ids))
    return rendered, failed


@click.command("letters-sample")
@click.argument("out_dir", type=click.Path(file_okay=False, path_type=Path))
def letters_sample_command(out_dir: Path) -> None:
    """Render every letter type for a made-up learner to PDF and PNG pages in OUT_DIR."""
    from casework.documents.samples import write_samples

    written = write_samples(out_dir)
    pdfs = sum(1 for path in written if path.suffix == ".pdf")
    click.echo(f"Wrote {pdfs} letters and {len(written) - pdfs} page images to {out_dir}")


COMMANDS = [render_letters_command, letters_sample_command]
