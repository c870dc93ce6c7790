"""Pages under load: the case page, the caseload list and the dashboard, and the API's case read
and case list, against a bare endpoint of the same app, served by gunicorn and driven by wrk from
a second process.

Builds the demo (``casework demo``'s builder: five providers' programmes, about 60 learners,
half a term of registers, the nightly scan's cases) in a database of its own, gives one case a
history (a verbal warning with an action plan and its letters, a note, a progress review) through
the case service, makes an API token for the demo's head of programme, and counts the SQL
statements each page runs in process. Then it starts gunicorn on 127.0.0.1, signs in as the
head of programme through the sign-in form (its CSRF token, the session cookie), and runs wrk
against, in turn:

1. ``/healthz``: the bare endpoint (no database, no session, no template);
2. ``/cases/<id>``: the case page of that case;
3. ``/cases``: the caseload list;
4. ``/dashboard``: the head of programme's dashboard;
5. ``/api/v1/cases/<id>``: the API's read of that case (the head's bearer token, no cookie);
6. ``/api/v1/cases``: the API's case list (its first page: every case of the demo's);

each for ``--duration`` seconds, ``--rounds`` times (the four alternate within a round, so the
ratios compare runs made side by side). A wrk Lua script counts every answer that is not a 200
(a run with one is refused) and reports the latency percentiles. The pages get the session
cookie, the API the token (and no cookie), the bare endpoint the cookie.

Usage: python bench/bench_pages.py [--database sqlite|postgresql] [--rounds N]
See bench/README.md.
"""

from __future__ import annotations

import argparse
import http.cookiejar
import json
import os
import re
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import benchkit
from benchkit import RESULTS_DIR, code_version, free_port, record, say

POSTGRESQL_ENV = "CASEWORK_BENCH_PAGES_POSTGRESQL_URL"
DEFAULT_POSTGRESQL_URL = "postgresql://postgres@127.0.0.1:5432/casework_bench_pages"
# Flask-Login's "strong" session protection ties the session to the address and the user agent:
# the sign-in and wrk send the same one.
USER_AGENT = "casework-bench-pages"
# The aims: p95 under load (ms) and requests/s against the bare endpoint's.
AIMS = {"case page": (50.0, 0.25), "api case": (25.0, 0.25), "api caseload": (25.0, 0.25)}
API_PREFIX = "/api/v1/"
PLAN = {
    "targets": ["Attend every timetabled session", "Tell the mentor by 9:00 if absent"],
    "support": ["Weekly check-in with the mentor", "A bus pass from the bursary"],
    "review_dates": [],  # filled in from today
}

# wrk's Lua: every thread counts its answers other than 200; done() prints one JSON line.
WRK_SCRIPT = """
local threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args) not_ok = 0 end
function response(status, headers, body)
  if status ~= 200 then not_ok = not_ok + 1 end
end
function done(summary, latency, requests)
  local bad = 0
  for _, thread in ipairs(threads) do bad = bad + thread:get("not_ok") end
  local e = summary.errors
  io.write(string.format(
    'RESULT {"requests": %d, "duration_us": %d, "socket_errors": %d, "not_ok": %d, ' ..
    '"p50_us": %d, "p95_us": %d, "p99_us": %d, "mean_us": %.1f, "max_us": %d}\\n',
    summary.requests, summary.duration, e.connect + e.read + e.write + e.timeout, bad,
    latency:percentile(50), latency:percentile(95), latency:percentile(99), latency.mean,
    latency.max))
end
"""


# --- the data ------------------------------------------------------------------------------------


def build() -> dict[str, Any]:
    """The demo as ``casework demo`` builds it, then a history for one open case of the head's
    (the tutor's verbal warning with its plan and letters, the head's note, a progress review)."""
    from datetime import timedelta

    from sqlalchemy import func, select

    from casework.cases.scan import run_scan
    from casework.cases.service import act, allowed_events
    from casework.demo import build_demo, flag_for_safeguarding
    from casework.documents.jobs import render_job
    from casework.extensions import db
    from casework.models import Case, CaseEvent, LetterJob, ReviewOutcome, Role, User
    from casework.tokens import create_token

    today = date.today()
    summary = build_demo(today)
    scan = run_scan(summary.last_session_day)
    flag_for_safeguarding()
    users = {u.email: u for u in db.session.scalars(select(User))}
    head = next(users[s.email] for s in summary.sign_ins if s.role == Role.HEAD_OF_PROGRAMME)
    tutor = next(users[s.email] for s in summary.sign_ins if s.role == Role.TUTOR_MENTOR)
    # A case of the tutor's (so of the head's too: the demo's head leads every programme) that
    # may take a verbal warning now.
    case = next(
        case
        for case in db.session.scalars(
            select(Case).where(Case.ended_at.is_(None)).order_by(Case.id)
        )
        if case.enrolment.mentor_id == tutor.id
        and "give_verbal_warning" in dict(allowed_events(tutor, case))
    )
    plan = {**PLAN, "review_dates": [str(today + timedelta(weeks=w)) for w in (2, 4)]}
    review = {"reviewed_on": str(today), "outcome": ReviewOutcome.PARTLY_MET.value, "notes": ""}
    history = (
        (
            tutor,
            "give_verbal_warning",
            "Talked it through; the plan below was agreed.",
            {"action_plan": plan},
        ),
        (head, "add_note", "Spoke to the learner's parent: transport is the problem.", None),
        (tutor, "record_review", "First check-in.", review),
    )
    for actor, event, note, data in history:
        act(
            actor=actor,
            event=event,
            case_id=case.id,
            expected_version=case.version,
            note=note,
            data=data,
        )
    jobs = db.session.scalars(select(LetterJob.id).where(LetterJob.case_id == case.id)).all()
    for job_id in jobs:
        render_job(job_id)
    events = db.session.scalar(select(func.count()).where(CaseEvent.case_id == case.id))
    _, token = create_token(email=head.email, name="bench_pages")
    built = {
        "learners": summary.learners,
        "marks": summary.marks,
        "cases": len(scan.cases_opened),
        "case_id": case.id,
        "case_events": events,
        "case_letters": len(jobs),
        "head_email": head.email,
        "password": summary.sign_ins[0].password,
        "token": token,
    }
    db.session.commit()
    return built


def targets(case_id: int) -> dict[str, str]:
    return {
        "bare": "/healthz",
        "case page": f"/cases/{case_id}",
        "caseload": "/cases",
        "dashboard": "/dashboard",
        "api case": f"{API_PREFIX}cases/{case_id}",
        "api caseload": f"{API_PREFIX}cases",
    }


def credentials(path: str, cookie: str, token: str) -> dict[str, str]:
    """The headers a request of ``path`` carries: the API's bearer token (no cookie, as an MIS
    calls it), else the session cookie."""
    if path.startswith(API_PREFIX):
        return {"Authorization": f"Bearer {token}"}
    return {"Cookie": f"session={cookie}"}


# --- in process: statements, and where the time goes ---------------------------------------------


def sign_in_test_client(app: Any, email: str, password: str) -> Any:
    client = app.test_client()
    client.environ_base["HTTP_USER_AGENT"] = USER_AGENT
    token = csrf_token(client.get("/sign-in").get_data(as_text=True))
    response = client.post(
        "/sign-in", data={"email": email, "password": password, "csrf_token": token}
    )
    if response.status_code != 303:
        raise SystemExit(f"signing in (in process) answered {response.status_code}")
    return client


def in_process_get(app: Any, built: dict[str, Any]) -> Callable[[str], Any]:
    """``get(path)`` in process (Flask's test clients, no server): a page as the signed-in head
    of programme, an API resource with their token and no session cookie."""
    pages = sign_in_test_client(app, built["head_email"], built["password"])
    api = app.test_client()
    bearer = {"Authorization": f"Bearer {built['token']}"}
    return lambda path: (
        api.get(path, headers=bearer) if path.startswith(API_PREFIX) else pages.get(path)
    )


def cpu_per_request(
    get: Callable[[str], Any], paths: dict[str, str], requests: int
) -> dict[str, float]:
    """CPU milliseconds a request of each page takes in process (Flask's test client, no server,
    no network): the best of three batches of ``requests``. Other processes on the machine
    change it far less than the wall-clock rates under load."""
    out = {}
    for name, path in paths.items():
        get(path)
        best = float("inf")
        for _ in range(3):
            started = time.process_time()
            for _ in range(requests):
                get(path)
            best = min(best, (time.process_time() - started) / requests)
        out[name] = 1000 * best
    return out


def count_statements(app: Any, get: Callable[[str], Any], paths: dict[str, str]) -> dict[str, int]:
    """Statements each page runs, after one request to warm it (as tests/views/test_pages.py)."""
    from sqlalchemy import event

    from casework.extensions import db

    counts = {}
    with app.app_context():
        engine = db.engine
    for name, path in paths.items():
        get(path)
        seen: list[str] = []

        def note(_conn, _cursor, statement, *_args, seen=seen) -> None:
            seen.append(statement)

        event.listen(engine, "before_cursor_execute", note)
        try:
            response = get(path)
        finally:
            event.remove(engine, "before_cursor_execute", note)
        if response.status_code != 200:
            raise SystemExit(f"{path} answered {response.status_code} in process")
        counts[name] = len(seen)
    return counts


def profile_pages(get: Callable[[str], Any], paths: dict[str, str], requests: int) -> None:
    """pyinstrument over ``requests`` GETs of each page, in process; text printed, HTML saved."""
    try:
        from pyinstrument import Profiler
    except ImportError:
        raise SystemExit(
            "--profile needs pyinstrument: .venv/bin/pip install pyinstrument"
        ) from None
    RESULTS_DIR.mkdir(exist_ok=True)
    for name, path in paths.items():
        get(path)
        profiler = Profiler(interval=0.0005)
        started = time.perf_counter()
        with profiler:
            for _ in range(requests):
                get(path)
        per_request = 1000 * (time.perf_counter() - started) / requests
        out = RESULTS_DIR / f"pages-{name.replace(' ', '-')}.html"
        out.write_text(profiler.output_html())
        say(
            f"\n--- pyinstrument {name} ({path}): {per_request:.1f} ms a request, profiled -> {out}"
        )
        print(profiler.output_text(unicode=False, color=False, short_mode=True))


# --- the server and the load ---------------------------------------------------------------------


def start_gunicorn(url: str, port: int, workers: int, log: Path) -> subprocess.Popen:
    env = {
        **os.environ,
        "CASEWORK_DATABASE_URL": url,
        # The same key in every worker, or a session signed by one is refused by the other.
        "CASEWORK_SECRET_KEY": secrets.token_hex(32),
        "CASEWORK_SESSION_COOKIE_SECURE": "false",  # plain HTTP on 127.0.0.1
    }
    command = [
        sys.executable,
        "-m",
        "gunicorn",
        "--workers",
        str(workers),
        "--bind",
        f"127.0.0.1:{port}",
        "--log-level",
        "warning",
        "casework:create_app()",
    ]
    server = subprocess.Popen(
        command,
        env=env,
        # Not this checkout: ``-m`` puts the working directory first on the path, and the
        # server must import the casework this script imported (``PYTHONPATH`` included).
        cwd=log.parent,
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its own process group: stopped as one at the end
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"gunicorn stopped:\n{log.read_text()}")
        try:
            with urllib.request.urlopen(base + "/healthz", timeout=2) as answer:
                if answer.status == 200:
                    return server
        except OSError:
            time.sleep(0.2)
    stop(server)
    raise SystemExit("gunicorn did not answer /healthz within 60 s")


def stop(server: subprocess.Popen) -> None:
    if server.poll() is None:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *_args, **_kwargs):
        return None  # a redirect is answered as it is: 303 after signing in, 302 to sign in


def csrf_token(html: str) -> str:
    match = re.search(r'name="csrf_token"[^>]*? value="([^"]+)"', html)
    if not match:
        raise SystemExit("the sign-in page has no CSRF token")
    return match.group(1)


def sign_in(base: str, email: str, password: str) -> str:
    """Sign in through the form as a browser would; the session cookie's value."""
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar), _NoRedirect)
    opener.addheaders = [("User-Agent", USER_AGENT)]
    with opener.open(base + "/sign-in") as page:
        token = csrf_token(page.read().decode())
    form = urllib.parse.urlencode({"email": email, "password": password, "csrf_token": token})
    try:
        opener.open(base + "/sign-in", data=form.encode())
        raise SystemExit("signing in did not redirect: wrong password?")
    except urllib.error.HTTPError as answer:
        if answer.code != 303:
            raise SystemExit(f"signing in answered {answer.code}") from None
    cookie = next((c.value for c in jar if c.name == "session"), None)
    if cookie is None:
        raise SystemExit("signing in set no session cookie")
    return cookie


def check_pages(base: str, cookie: str, token: str, paths: dict[str, str]) -> dict[str, int]:
    """Each page answers 200 to the session or the token (not a redirect to sign in); its size
    in bytes."""
    sizes = {}
    for name, path in paths.items():
        opener = urllib.request.build_opener(_NoRedirect)
        opener.addheaders = [("User-Agent", USER_AGENT), *credentials(path, cookie, token).items()]
        try:
            with opener.open(base + path) as page:
                sizes[name] = len(page.read())
        except urllib.error.HTTPError as answer:
            raise SystemExit(f"{path} answered {answer.code}") from None
    return sizes


def run_wrk(
    url: str, headers: dict[str, str], script: Path, *, seconds: int, connections: int, threads: int
) -> dict[str, Any]:
    command = [
        "wrk",
        f"--threads={threads}",
        f"--connections={connections}",
        f"--duration={seconds}s",
        "--timeout=10s",
        f"--script={script}",
        "--header=User-Agent: " + USER_AGENT,
        *(f"--header={name}: {value}" for name, value in headers.items()),
        url,
    ]
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    line = next((x for x in done.stdout.splitlines() if x.startswith("RESULT ")), None)
    if line is None:
        raise SystemExit(f"wrk printed no result:\n{done.stdout}\n{done.stderr}")
    run = json.loads(line.removeprefix("RESULT "))
    if run["not_ok"] or run["socket_errors"]:
        raise SystemExit(
            f"{url}: {run['not_ok']} answers other than 200 and {run['socket_errors']} socket "
            "errors: the numbers would not be the page's"
        )
    run["rps"] = run["requests"] / (run["duration_us"] / 1e6)
    return run


# --- the benchmark -------------------------------------------------------------------------------


def bench(args: argparse.Namespace, url: str, workdir: Path) -> dict[str, Any]:
    from casework import create_app
    from casework.database import reset_database
    from casework.extensions import db

    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed: apt-get install -y wrk")
    app = create_app(
        {"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "bench", "SESSION_COOKIE_SECURE": False}
    )
    results: dict[str, Any] = {}
    with app.app_context():
        dialect = db.engine.dialect.name
        say(f"database: {dialect}, {db.engine.url.render_as_string(hide_password=True)}")
        reset_database()
        seconds, built = benchkit.stopwatch(build)
        db.session.remove()
        db.engine.dispose()  # gunicorn's workers open their own connections
    say(
        f"  the demo: {built['learners']} learners, {built['marks']} marks, {built['cases']} "
        f"cases; case {built['case_id']} has {built['case_events']} events and "
        f"{built['case_letters']} letters; built in {seconds:.1f} s"
    )
    paths = targets(built["case_id"])
    results.update(database=dialect, server=server_version(app, dialect), setup_seconds=seconds)
    results.update({k: v for k, v in built.items() if k not in ("head_email", "password", "token")})

    get = in_process_get(app, built)
    results["statements"] = count_statements(app, get, paths)
    say("  statements a request (in process): " + str(results["statements"]))
    results["cpu_ms"] = cpu_per_request(get, paths, 30)
    say(
        "  CPU ms a request (in process): "
        + str({k: round(v, 2) for k, v in results["cpu_ms"].items()})
    )
    if args.profile:
        hot = ("case page", "caseload", "api case", "api caseload")
        profile_pages(get, {k: paths[k] for k in hot}, args.profile)
    with app.app_context():
        db.engine.dispose()  # nothing of this process's holds a connection during the load

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server = start_gunicorn(url, port, args.workers, workdir / "gunicorn.log")
    try:
        cookie = sign_in(base, built["head_email"], built["password"])
        token = built["token"]
        results["bytes"] = check_pages(base, cookie, token, paths)
        script = workdir / "count.lua"
        script.write_text(WRK_SCRIPT)
        load = {"connections": args.connections, "threads": args.threads}
        say(
            f"gunicorn: {args.workers} workers on {base}; wrk: {args.threads} thread, "
            f"{args.connections} connections, {args.duration} s a run"
        )
        for path in paths.values():  # warm each worker's caches (templates, statements)
            run_wrk(base + path, credentials(path, cookie, token), script, seconds=2, **load)
        runs: dict[str, list[dict[str, Any]]] = {name: [] for name in paths}
        for round_number in range(1, args.rounds + 1):
            for name, path in paths.items():
                run = run_wrk(
                    base + path,
                    credentials(path, cookie, token),
                    script,
                    seconds=args.duration,
                    **load,
                )
                runs[name].append(run)
                say(
                    f"  round {round_number} {name:<12} {run['rps']:8.1f} req/s  p50 "
                    f"{run['p50_us'] / 1000:6.1f} ms  p95 {run['p95_us'] / 1000:6.1f} ms  "
                    f"p99 {run['p99_us'] / 1000:6.1f} ms"
                )
    finally:
        stop(server)
    results.update(
        paths=paths,
        runs=runs,
        workers=args.workers,
        duration=args.duration,
        rounds=args.rounds,
        **load,
    )
    return results


def summarise(results: dict[str, Any]) -> dict[str, dict[str, float]]:
    """Per page, the median over the rounds of requests/s, p50, p95 and the ratio to the bare
    endpoint's requests/s in the same round."""
    bare = [run["rps"] for run in results["runs"]["bare"]]
    out = {}
    for name, runs in results["runs"].items():
        out[name] = {
            "rps": statistics.median(r["rps"] for r in runs),
            "p50_ms": statistics.median(r["p50_us"] for r in runs) / 1000,
            "p95_ms": statistics.median(r["p95_us"] for r in runs) / 1000,
            "ratio": statistics.median(r["rps"] / b for r, b in zip(runs, bare, strict=True)),
        }
    return out


def report(results: dict[str, Any]) -> str:
    summary = summarise(results)
    lines = [
        f"### Pages, {results['when'][:10]}, casework {results['commit']}, {results['database']}",
        "",
        f"{results['machine']}; {results['server']}. gunicorn {results['workers']} sync "
        f"workers, wrk {results['threads']} thread and {results['connections']} connections, "
        f"{results['duration']} s a run, {results['rounds']} rounds (medians; the ratio is "
        "taken within each round). The demo as the head of programme; case "
        f"{results['case_id']}: {results['case_events']} events, {results['case_letters']} "
        "letters.",
        "",
        "| page | path | statements | CPU ms in process | bytes | req/s | p50 ms | p95 ms "
        "| x bare | aim | met |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---|---|",
    ]
    for name, numbers in summary.items():
        aim, met = "", ""
        if name in AIMS:
            p95, ratio = AIMS[name]
            aim = f"p95 < {p95:.0f} ms, >= {ratio}x bare"
            met = "p95 {}, ratio {}".format(
                *(
                    "**yes**" if ok else "**no**"
                    for ok in (numbers["p95_ms"] < p95, numbers["ratio"] >= ratio)
                )
            )
        lines.append(
            f"| {name} | `{results['paths'][name]}` | {results['statements'][name]} | "
            f"{results['cpu_ms'][name]:.2f} | {results['bytes'][name]:,} | "
            f"{numbers['rps']:.0f} | {numbers['p50_ms']:.1f} | {numbers['p95_ms']:.1f} | "
            f"{numbers['ratio']:.2f}x | {aim} | {met} |"
        )
    return "\n".join(lines)


def server_version(app: Any, dialect: str) -> str:
    import sqlite3

    from sqlalchemy import text

    from casework.extensions import db

    if dialect == "sqlite":
        return f"SQLite {sqlite3.sqlite_version}"
    with app.app_context():
        version = db.session.scalar(text("SHOW server_version"))
        db.session.remove()
    return f"PostgreSQL {version}"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    benchkit.add_run_options(parser, POSTGRESQL_ENV, DEFAULT_POSTGRESQL_URL, "pages")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of the six runs (3)")
    parser.add_argument("--duration", type=int, default=10, help="seconds a wrk run (10)")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers (2)")
    parser.add_argument("--connections", type=int, default=4, help="wrk connections (4)")
    parser.add_argument("--threads", type=int, default=1, help="wrk threads (1)")
    parser.add_argument(
        "--profile",
        type=int,
        nargs="?",
        const=50,
        metavar="N",
        help="pyinstrument N in-process requests of the case and the caseload, page and API (50)",
    )
    args = parser.parse_args(argv)
    if min(args.rounds, args.duration, args.workers, args.connections, args.threads) < 1:
        parser.error("every count must be 1 or more")
    if args.connections < args.threads:
        parser.error("wrk needs at least one connection a thread")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.report:
        benchkit.print_saved("pages", args.report, report)
        return 0
    version = code_version(("casework", "templates"))
    with benchkit.work_directory("casework-bench-pages-", args.keep) as workdir:
        url = benchkit.database_url(args, workdir, POSTGRESQL_ENV, DEFAULT_POSTGRESQL_URL)
        results = bench(args, url, workdir)
    record(results, "pages", save=not args.no_save, commit=version, profiled=bool(args.profile))
    print("\n" + report(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
