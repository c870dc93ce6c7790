"""The long commands' progress bar: a count and an estimate on a terminal, silence elsewhere."""

from __future__ import annotations

import io
from datetime import UTC, datetime

import time_machine

from casework.cases.scan import run_scan
from casework.cli.progress import progress_bar
from casework.extensions import db
from casework.registers.importing import COLUMNS, import_register


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def _last_frame(stream: io.StringIO) -> str:
    return stream.getvalue().split("\r")[-1]


def test_the_bar_counts_up_to_the_total_with_an_estimate():
    terminal = Terminal()
    with (
        time_machine.travel(datetime(2026, 12, 1, 9, tzinfo=UTC), tick=False) as traveller,
        progress_bar("Working", file=terminal) as on_progress,
    ):
        on_progress(0, 40)
        traveller.shift(10)
        on_progress(10, 40)  # 1 s a step: 30 s to go
        assert "10/40" in _last_frame(terminal)
        assert "00:00:30" in _last_frame(terminal)
        on_progress(40, 40)
    assert "Working" in terminal.getvalue()
    assert "40/40" in terminal.getvalue()


def test_off_a_terminal_nothing_is_printed():
    stream = io.StringIO()
    with progress_bar("Working", file=stream) as on_progress:
        on_progress(1, 2)
        on_progress(2, 2)
    assert stream.getvalue() == ""


def _register(make, tmp_path):
    enrolment = make.enrolment(learner=make.learner(learner_ref="L1"))
    make.session(enrolment.programme, datetime(2026, 9, 7, 9), session_ref="S1")
    make.session(enrolment.programme, datetime(2026, 9, 8, 9), session_ref="S2")
    db.session.commit()
    path = tmp_path / "week1.csv"
    path.write_text(",".join(COLUMNS) + "\nL1,S1,P,,,,,\nL1,S2,P,,,,,\n", encoding="utf-8")
    return path


def test_the_import_reports_its_rows_to_the_end(make, tmp_path):
    terminal = Terminal()
    data = _register(make, tmp_path).read_bytes()
    with progress_bar("Importing", file=terminal) as on_progress:
        import_register(data, filename="week1.csv", imported_by="me", on_progress=on_progress)
    assert "0/2" in terminal.getvalue() and "2/2" in _last_frame(terminal)


def test_the_scan_reports_each_step_to_the_end(one_case):
    _t, day = one_case
    calls = []
    run_scan(day, lambda done, total: calls.append((done, total)))
    assert calls == [(done, 7) for done in range(1, 8)]


def test_the_commands_print_no_bar_off_a_terminal(runner, make, tmp_path, one_case):
    _t, day = one_case
    imported = runner.invoke(args=["import-register", str(_register(make, tmp_path))])
    assert imported.output == (
        "Imported week1.csv: 2 rows, 2 new marks, 0 changed, 0 unchanged.\n"
    ), imported.output
    scanned = runner.invoke(args=["scan", "--date", day.isoformat()])
    assert scanned.exit_code == 0 and scanned.output.startswith("Scan as at"), scanned.output
