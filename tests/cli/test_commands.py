"""The casework commands: import-register and create-user, as a user would run them."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select

from casework.extensions import db
from casework.models import Mark, Role, User
from casework.registers.importing import COLUMNS


def test_import_register_reports_counts(runner, make, tmp_path):
    enrolment = make.enrolment(learner=make.learner(learner_ref="L1"))
    make.session(enrolment.programme, datetime(2026, 9, 7, 9), session_ref="S1")
    db.session.commit()
    path = tmp_path / "week1.csv"
    path.write_text(",".join(COLUMNS) + "\nL1,S1,P,,,,,\n", encoding="utf-8")
    result = runner.invoke(args=["import-register", str(path), "--by", "officer@example.org"])
    assert result.exit_code == 0, result.output
    assert "Imported week1.csv: 1 rows, 1 new marks, 0 changed, 0 unchanged." in result.output
    assert db.session.scalars(select(Mark)).one().recorded_by == "officer@example.org"


def test_import_register_lists_problems_and_fails(runner, make, tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text(",".join(COLUMNS) + "\nL404,S1,P,,,,,\nL405,S1,P,,,,,\n", encoding="utf-8")
    result = runner.invoke(args=["import-register", str(path)])
    assert result.exit_code == 1
    assert "bad.csv: row 2: unknown learner 'L404'" in result.output
    assert "bad.csv: row 3: unknown learner 'L405'" in result.output
    assert "bad.csv was not imported: 2 problem(s); nothing changed." in result.output
    assert db.session.scalar(select(func.count()).select_from(Mark)) == 0


def test_import_register_missing_file(runner, tmp_path):
    result = runner.invoke(args=["import-register", str(tmp_path / "nope.csv")])
    assert result.exit_code == 2
    assert "does not exist" in result.output


def test_create_user(runner):
    result = runner.invoke(
        args=[
            "create-user",
            "Head@Example.org",
            "--name",
            "Priya Shah",
            "--role",
            "head_of_programme",
            "--role",
            "tutor_mentor",
        ],
        input="a long enough secret\na long enough secret\n",
    )
    assert result.exit_code == 0, result.output
    user = db.session.scalars(select(User)).one()
    assert user.email == "head@example.org"
    assert user.roles == {Role.HEAD_OF_PROGRAMME, Role.TUTOR_MENTOR}
    assert user.check_password("a long enough secret")
    assert "a long enough secret" not in user.password_hash


def test_create_user_refuses_bad_input(runner, make):
    make.user(Role.ADMINISTRATOR, email="taken@example.org")
    db.session.commit()
    options = ["--name", "X", "--role", "administrator", "--password"]
    cases = [
        ("not-an-email", "a long enough secret", "email: Not a valid email address."),
        ("a@example.org", "short", "password: Must be at least 12 characters."),
        ("TAKEN@example.org", "a long enough secret", "already exists"),
    ]
    for email, password, message in cases:
        result = runner.invoke(args=["create-user", email, *options, password])
        assert result.exit_code == 1, result.output
        assert message in result.output
    result = runner.invoke(args=["create-user", "b@example.org", "--name", "X", "--role", "boss"])
    assert result.exit_code == 2 and "Invalid value for '--role'" in result.output
