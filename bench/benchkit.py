"""Helpers both benchmarks share: phase timing, profiling, a stopwatch, and what was measured
where. Imports nothing of casework, so spawned bare-WeasyPrint workers stay as light as they are."""

from __future__ import annotations

import cProfile
import io
import os
import platform
import pstats
import subprocess
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

RESULTS_DIR = Path(__file__).resolve().parent / "results"


class PhaseClock:
    """Wall time spent in named module functions, by wrapping them for the duration of a block.

    The wrappers only observe: each calls the original (generators are drained into a list), so
    the code measured is unchanged. A name that no longer exists is skipped.
    """

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)

    @contextmanager
    def watching(self, module: Any, names: dict[str, str], drain: tuple[str, ...] = ()):
        originals = {name: getattr(module, name) for name in names if hasattr(module, name)}
        for name, original in originals.items():
            setattr(module, name, self._timed(original, names[name], name in drain))
        try:
            yield self
        finally:
            for name, original in originals.items():
                setattr(module, name, original)

    def _timed(self, function: Callable[..., Any], label: str, drain: bool) -> Callable[..., Any]:
        def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                result = function(*args, **kwargs)
                return list(result) if drain else result
            finally:
                self.seconds[label] += time.perf_counter() - started

        return timed


@contextmanager
def profiled(label: str, enabled: bool, top: int = 15) -> Iterator[None]:
    """cProfile the block when enabled; stats to bench/results/<label>.prof and the top lines."""
    if not enabled:
        yield
        return
    profiler = cProfile.Profile()
    profiler.enable()
    try:
        yield
    finally:
        profiler.disable()
        RESULTS_DIR.mkdir(exist_ok=True)
        path = RESULTS_DIR / f"{label}.prof"
        profiler.dump_stats(path)
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(top)
        print(f"\n--- cProfile {label} (by own time; timings inflated) -> {path}")
        print(out.getvalue())


def print_saved(name: str, last: int, report: Callable[[dict[str, Any]], str]) -> None:
    """The tables of the last ``last`` runs saved in ``bench/results/<name>.jsonl``, again."""
    import json

    for line in (RESULTS_DIR / f"{name}.jsonl").read_text().splitlines()[-last:]:
        print(report(json.loads(line)) + "\n")


@contextmanager
def work_directory(prefix: str, keep: bool) -> Iterator[Path]:
    """A temporary directory for one run: removed afterwards, unless ``keep``."""
    import shutil
    import tempfile

    path = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        yield path
    finally:
        if keep:
            say(f"work directory kept: {path}")
        else:
            shutil.rmtree(path, ignore_errors=True)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on, for a server the benchmark starts."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def stopwatch(function: Callable[[], Any]) -> tuple[float, Any]:
    started = time.perf_counter()
    result = function()
    return time.perf_counter() - started, result


def say(message: str) -> None:
    print(message, flush=True)


def code_version(paths: tuple[str, ...] = ("casework",)) -> str:
    """The commit measured, marked "+changes" when any of ``paths`` differs from it."""
    root = Path(__file__).resolve().parent.parent

    def git(*args: str) -> str:
        try:
            done = subprocess.run(
                ["git", "-C", str(root), *args], capture_output=True, text=True, check=True
            )
        except (OSError, subprocess.CalledProcessError):
            return ""
        return done.stdout.strip()

    commit = git("rev-parse", "--short", "HEAD") or "unknown"
    return commit + (" +changes" if git("status", "--porcelain", "--", *paths) else "")


def machine() -> str:
    return (
        f"{os.cpu_count()} CPUs, {platform.machine()}, Python {platform.python_version()},"
        f" {platform.system()} {platform.release()}"
    )


def record(results: dict[str, Any], name: str, *, save: bool, **fields: Any) -> None:
    """Stamp a run's results with where and when it ran and its peak memory, then (unless told
    not to) append them as one JSON line to ``bench/results/<name>.jsonl``."""
    import json
    import resource
    from datetime import UTC, datetime

    results.update(
        machine=machine(),
        when=datetime.now(UTC).isoformat(timespec="seconds"),
        **fields,
        peak_memory_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024,
    )
    if save:
        RESULTS_DIR.mkdir(exist_ok=True)
        with (RESULTS_DIR / f"{name}.jsonl").open("a") as out:
            out.write(json.dumps(results) + "\n")


def add_run_options(parser: Any, database_env: str, default_url: str, saved_as: str) -> None:
    """The options every benchmark takes: which database (a PostgreSQL one it may wipe), whether
    to save the run, keep its work directory, or only print saved runs' tables."""
    parser.add_argument("--database", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument(
        "--postgresql-url",
        help=f"a database this may wipe (default ${database_env}, else {default_url})",
    )
    parser.add_argument("--no-save", action="store_true", help="do not append to bench/results/")
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    parser.add_argument(
        "--report",
        type=int,
        metavar="N",
        help=f"only print the tables of the last N runs saved in bench/results/{saved_as}.jsonl",
    )


def database_url(args: Any, workdir: Path, database_env: str, default_url: str) -> str:
    """A SQLite file in ``workdir``, or the PostgreSQL database asked for (created if missing)."""
    if args.database == "sqlite":
        return f"sqlite:///{workdir / 'bench.sqlite'}"
    url = args.postgresql_url or os.environ.get(database_env) or default_url
    ensure_postgresql_database(url)
    return url


PROTECTED_DATABASES = frozenset({"test", "casework_ci"})  # the test suite's and CI's


def ensure_postgresql_database(url: str) -> None:
    """Refuses the test suite's and CI's databases; creates the database if it is missing."""
    import psycopg
    from psycopg import sql
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    name = parsed.database or ""
    if name in PROTECTED_DATABASES or not name:
        raise SystemExit(f"refusing to wipe the database {name!r}: give one of its own")
    admin = parsed.set(drivername="postgresql", database="postgres")
    with psycopg.connect(admin.render_as_string(hide_password=False), autocommit=True) as conn:
        found = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if found is None:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
