"""Policy files: the five shipped policies load with their documents' values; bad files say why."""

from __future__ import annotations

from pathlib import Path

import pytest

from casework.policies import POLICY_DIR, PolicyFileError, load_policies, load_policy_file
from casework.policies.rules import APPROVAL_DEFAULT, PolicyRules

SHIPPED = {p.document["key"]: p.document for p in load_policies()}


def test_five_policies_ship():
    assert sorted(SHIPPED) == [
        "000-sek",
        "001-sts",
        "002-ap-schools",
        "003-green-labyrinth",
        "004-nxt-gen",
    ]


@pytest.mark.parametrize(
    ("key", "path", "value"),
    [
        ("003-green-labyrinth", ("attendance", "threshold_percent"), 90.0),
        ("003-green-labyrinth", ("absence", "medical_certificate_after_days"), 7),
        ("003-green-labyrinth", ("contacts", "parent_carer_extended_under_age"), 25),
        ("003-green-labyrinth", ("notices", 0, "channel"), "sms"),
        ("003-green-labyrinth", ("notices", 1, "channel"), "email"),
        ("003-green-labyrinth", ("notices", 1, "occasion"), "later_in_period"),
        ("003-green-labyrinth", ("absence", "absence_periods_per_half_term"), 1),
        ("001-sts", ("attendance", "target_percent"), 100.0),
        ("001-sts", ("attendance", "punctuality_target_percent"), 100.0),
        ("001-sts", ("deadlines", "rebook_one_to_one_working_days"), 5),
        ("001-sts", ("notices", 0, "to"), ["employer"]),
        ("001-sts", ("notices", 0, "occasion"), "every"),
        ("001-sts", ("registers", "closes_after_minutes"), 30),
        ("002-ap-schools", ("code_set",), "statutory"),
        ("002-ap-schools", ("contacts", "school_told_within_minutes"), 30),
        ("002-ap-schools", ("attendance", "threshold_rule"), "at_or_below"),
        ("004-nxt-gen", ("contacts", "main_school_told_by"), "09:15"),
        ("004-nxt-gen", ("contacts", "parents_report_absence_by"), "09:00"),
        ("004-nxt-gen", ("contacts", "first_day_calling"), True),
        ("004-nxt-gen", ("notices", 0, "when"), "parents_report_absence_by"),
        ("002-ap-schools", ("notices",), []),
        ("004-nxt-gen", ("contacts", "main_school_letters"), True),
        ("000-sek", ("code_set",), "further_education"),
        ("000-sek", ("contacts", "employer_letters"), True),
    ],
)
def test_policy_states_its_documents_values(key, path, value):
    node = SHIPPED[key]
    for part in path:
        node = node[part]
    assert node == value


def write(tmp_path: Path, text: str, name: str = "bad.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


GOOD = (POLICY_DIR / "003-green-labyrinth.toml").read_text(encoding="utf-8")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            ("threshold_percent = 90", "threshold_percent = 190"),
            "attendance.threshold_percent: Must be greater",
        ),
        (
            ("threshold_percent = 90", 'threshold_percent = "ninety"'),
            "attendance.threshold_percent: Not a valid number.",
        ),
        (
            ("minimum_sessions = 10\n", ""),
            "attendance.minimum_sessions: Missing data for required field.",
        ),
        (('code_set = "further_education"', 'code_set = "welsh"'), "code_set: Must be one of"),
        (
            ('"bereavement",', '"bereavement", "hangover",'),
            "attendance.authorised_reasons.3: Must be one of",
        ),
        (
            ("[contacts]", "[contacts]\nparent_carer_under_agee = 18"),
            "contacts.parent_carer_under_agee: Unknown field.",
        ),
        (('channel = "sms"', 'channel = "pigeon"'), "notices.0.channel: Must be one of"),
        (('occasion = "first_in_period"', 'occasion = "soon"'), "notices.0.occasion: Must be"),
        (('marks = "absent"', 'marks = "late"'), "notices.0.marks: Must be one of"),
        (
            ('to = ["parent_carer", "learner_adult", "employer"]', 'to = ["the press"]'),
            "notices.0.to.0: Must be one of",
        ),
        (
            ('to = ["parent_carer", "learner_adult", "employer"]', "to = []"),
            "notices.0.to: Shorter than minimum length 1.",
        ),
        (
            ('to = ["parent_carer", "learner_adult", "employer"]', 'to = ["learner", "learner"]'),
            "notices.0.to: Name each recipient once.",
        ),
        (
            ('when = "now"', 'when = "9am"'),
            'notices.0.when: Must be "now", "parents_report_absence_by" or a time as HH:MM.',
        ),
        (('when = "now"', 'when = "24:00"'), "notices.0.when: Must be"),
        (
            ('when = "now"', 'when = "parents_report_absence_by"'),
            "notices.0.when: Set contacts.parents_report_absence_by to hold a notice until it.",
        ),
        (
            (
                'occasion = "later_in_period"\nto = ["parent_carer", "learner_adult", "employer"]'
                '\nchannel = "email"',
                'occasion = "every"\nto = ["parent_carer"]\nchannel = "sms"',
            ),
            "notices.1: Notice 0 already sends sms to parent_carer about the same marks",
        ),
        (('channel = "sms"\n', ""), "notices.0.channel: Missing data for required field."),
        (('when = "now"', 'when = "now"\ncc = "x"'), "notices.0.cc: Unknown field."),
        (
            ("[contacts]", '[contacts]\nfirst_absence_notice = "sms"'),
            "contacts.first_absence_notice: Unknown field.",
        ),
        (('key = "003-green-labyrinth"', 'key = "Green Labyrinth"'), "key: String does not match"),
        (
            ("[registers]", "[registers]\ncloses_after_minutes = -1"),
            "registers.closes_after_minutes: Must be greater",
        ),
        (
            ('tone = "formal"', 'tone = "formal"\napproval = ["written_warning", "sonnet"]'),
            "letters.approval.1: Must be one of",
        ),
        (('weekly_on = "monday"', 'weekly_on = "mondays"'), "reports.weekly_on: Must be one of"),
        (('weekly_at = "07:00"', 'weekly_at = "7am"'), "reports.weekly_at: Must be a time"),
        (
            ("[reports]", "[reports]\nface_to_face_registers_within_minutes = 0"),
            "reports.face_to_face_registers_within_minutes: Must be greater",
        ),
    ],
)
def test_bad_field_is_named(tmp_path, change, message):
    old, new = change
    assert old in GOOD
    with pytest.raises(PolicyFileError) as caught:
        load_policy_file(write(tmp_path, GOOD.replace(old, new, 1)))
    assert str(caught.value).startswith("bad.toml: ")
    assert message in str(caught.value)


def test_threshold_above_target(tmp_path):
    with pytest.raises(PolicyFileError, match=r"threshold_percent: Must not be above target"):
        load_policy_file(
            write(tmp_path, GOOD.replace("target_percent = 100", "target_percent = 80"))
        )


def test_rolling_window_needs_weeks(tmp_path):
    text = GOOD.replace('window = "academic_year"', 'window = "rolling_weeks"')
    with pytest.raises(PolicyFileError, match=r"attendance.window_weeks: Required"):
        load_policy_file(write(tmp_path, text))


def test_unreadable_toml(tmp_path):
    with pytest.raises(PolicyFileError, match=r"bad.toml: cannot read the file"):
        load_policy_file(write(tmp_path, "key = = 1"))


def test_duplicate_keys(tmp_path):
    write(tmp_path, GOOD, "a.toml")
    write(tmp_path, GOOD, "b.toml")
    with pytest.raises(
        PolicyFileError, match=r"b.toml: key: '003-green-labyrinth' is already used"
    ):
        load_policies(tmp_path)


def test_a_sixth_provider_needs_only_a_file(tmp_path):
    write(tmp_path, GOOD.replace("003-green-labyrinth", "005-new-college"), "005.toml")
    (loaded,) = load_policies(tmp_path)
    assert loaded.document["key"] == "005-new-college"
    assert len(loaded.sha256) == 64


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            (
                '[workflow.events.close]\nlabel = "Close the case"',
                '[workflow.events.closeX]\nlabel = "x"',
            ),
            "workflow.events",
        ),
        (
            (
                'convene_panel]\nlabel = "Convene a panel"\nroles = ["head_of_programme"]',
                'convene_panel]\nlabel = "Convene a panel"\nroles = ["scan"]',
            ),
            "Only open may be fired by the scan",
        ),
        (
            ('final_written_warning = "Final written warning"\n', ""),
            "workflow.stages: Name these stages: final_written_warning",
        ),
        (
            ('to = ["learner", "parent_carer"] }]', 'to = ["the press"] }]'),
            "Must be one of",
        ),
        (
            ("decision_due_working_days = 5", "decision_due_working_days = 0"),
            "workflow.decision_due_working_days",
        ),
    ],
)
def test_bad_workflow_is_named(tmp_path, change, message):
    old, new = change
    assert old in GOOD
    with pytest.raises(PolicyFileError, match=message):
        load_policy_file(write(tmp_path, GOOD.replace(old, new, 1)))


def test_a_stage_with_no_way_out_is_refused(tmp_path):
    # Without close and withdraw a final written warning could never end.
    text = GOOD.replace(
        "[workflow.events.withdraw]", '[workflow.events.withdraw]\nfrom = ["disciplinary_panel"]'
    )
    # withdraw from final_written_warning disabled; close still ends it: valid
    load_policy_file(write(tmp_path, text))
    closing = 'letters = [{ template = "closing_letter"'
    trapped = text.replace(closing, 'from = ["monitoring"]\n' + closing)
    with pytest.raises(PolicyFileError, match="has no way out"):
        load_policy_file(write(tmp_path, trapped))


def test_a_sixth_provider_gets_its_own_machine_and_diagram(tmp_path):
    from casework.machines.case import machine_class

    text = GOOD.replace("003-green-labyrinth", "005-new-college").replace(
        'verbal_warning = "Verbal warning"', 'verbal_warning = "Informal warning"'
    )
    (loaded,) = load_policies(write(tmp_path, text, "005.toml").parent)
    cls = machine_class("005-new-college", loaded.sha256, loaded.rules.workflow)
    assert "Informal warning" in f"{cls:mermaid}"


def test_the_letters_the_head_approves_default_to_the_escalating_ones(tmp_path):
    """Without ``[letters] approval``, written warnings, panel invitations, final written
    warnings and withdrawals wait for the head of programme; a file may name others, or none."""
    default = load_policy_file(write(tmp_path, GOOD)).rules.letters.approval
    assert (
        default
        == APPROVAL_DEFAULT
        == (
            "written_warning",
            "panel_invitation",
            "final_written_warning",
            "withdrawal",
        )
    )
    assert "approval" not in SHIPPED["003-green-labyrinth"]["letters"]  # its hash unchanged
    text = GOOD.replace('tone = "formal"', 'tone = "formal"\napproval = ["closing_letter"]', 1)
    assert load_policy_file(write(tmp_path, text)).rules.letters.approval == ("closing_letter",)
    text = GOOD.replace('tone = "formal"', 'tone = "formal"\napproval = []', 1)
    assert load_policy_file(write(tmp_path, text)).rules.letters.approval == ()


def test_notices_as_rules():
    """004 holds its alert until the parents' own deadline, read from [contacts] (one clock)."""
    rules = {p.rules.key: p.rules for p in load_policies()}
    (held,) = rules["004-nxt-gen"].notices
    assert held.hold_until == rules["004-nxt-gen"].contacts.parents_report_absence_by == "09:00"
    first, later = rules["003-green-labyrinth"].notices
    assert (first.channel, later.channel, first.hold_until) == ("sms", "email", None)
    assert first.categories == ("authorised", "unauthorised")
    assert rules["001-sts"].notices[0].categories == ("unauthorised",)
    assert rules["000-sek"].notices == rules["002-ap-schools"].notices == ()


def test_a_stored_document_from_before_notices_still_reads():
    """Policy rows stored before [[notices]] keep the old [contacts] keys and have no notices."""
    document = dict(SHIPPED["003-green-labyrinth"])
    document.pop("notices")
    document["contacts"] = dict(document["contacts"], first_absence_notice="sms")
    assert PolicyRules.from_document(document).notices == ()


def test_a_school_report_cannot_be_built_after_its_deadline(tmp_path):
    school = (POLICY_DIR / "002-ap-schools.toml").read_text(encoding="utf-8")
    late = school.replace("send_ahead_minutes = 10", "send_ahead_minutes = 30")
    with pytest.raises(PolicyFileError) as caught:
        load_policy_file(write(tmp_path, late))
    assert "reports.send_ahead_minutes: Must be less than contacts.school_told_within_minutes" in (
        str(caught.value)
    )


def test_a_policy_without_reports_gets_no_staff_reports(tmp_path):
    bare = GOOD[: GOOD.index("\n[reports]")] + "\n"
    rules = load_policy_file(write(tmp_path, bare, "bare.toml")).rules
    assert rules.reports.weekly_on is None and rules.reports.registers_at is None
    assert rules.reports.send_ahead_minutes == 10
