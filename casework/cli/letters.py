"""Letter commands: render the letters waiting (the scan's, and any to retry)."""

from __future__ import annotations

import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import click
from flask import current_app
from flask.cli import with_appcontext

from casework.cli.processes import die_with
from casework.cli.progress import progress_bar
from casework.extensions import db

_CHUNK = 25  # jobs per task: small enough for a smooth progress bar
_worker_app = None


def _start_worker(database_uri: str, parent: int) -> None:
    global _worker_app
    die_with(parent)
    from casework import create_app

    _worker_app = create_app({"SQLALCHEMY_DATABASE_URI": database_uri})
    _worker_app.app_context().push()


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
