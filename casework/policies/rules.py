"""A provider's policy as a typed, immutable object: what code reads instead of the raw document.

``PolicySchema`` validates a data file into a JSON-safe document (stored with the policy row and
hashed); ``PolicyRules.from_document`` turns that document into these frozen dataclasses, built
once per document hash and shared read-only (``rules_for``).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from casework.machines.workflow import Event, Stage
from casework.models.codes import CodeSet

# The letters that wait for the head of programme where a policy does not say (``[letters]
# approval``): those that escalate a case or end it.
APPROVAL_DEFAULT = ("written_warning", "panel_invitation", "final_written_warning", "withdrawal")


@dataclass(frozen=True)
class AttendanceRules:
    target_percent: float
    threshold_percent: float
    threshold_rule: str  # "below" (FE) or "at_or_below" (statutory persistent absence)
    punctuality_target_percent: float | None
    window: str  # "academic_year" or "rolling_weeks"
    window_weeks: int | None
    minimum_sessions: int
    authorised_reasons: tuple[str, ...]
    assessment_risk_below_percent: float | None

    @property
    def inclusive(self) -> bool:
        """True where reaching the threshold is already a concern (statutory "at or below")."""
        return self.threshold_rule == "at_or_below"

    @property
    def threshold_words(self) -> str:
        return f"{'at or below' if self.inclusive else 'below'} {self.threshold_percent:g}%"


@dataclass(frozen=True)
class RegisterRules:
    complete_by: str
    closes_after_minutes: int | None


@dataclass(frozen=True)
class AbsenceRules:
    medical_certificate_after_days: int | None
    absence_periods_per_half_term: int | None
    leaves_of_absence_per_half_term: int | None


@dataclass(frozen=True)
class ContactRules:
    parent_carer_under_age: int
    parent_carer_extended_under_age: int | None
    employer_letters: bool
    main_school_letters: bool
    main_school_told_by: str | None
    school_told_within_minutes: int | None
    parents_report_absence_by: str | None
    first_day_calling: bool


@dataclass(frozen=True)
class DeadlineRules:
    rebook_one_to_one_working_days: int | None


@dataclass(frozen=True)
class LetterRule:
    template: str
    to: tuple[str, ...]


@dataclass(frozen=True)
class EventRules:
    event: Event
    label: str
    roles: tuple[str, ...]
    letters: tuple[LetterRule, ...]
    from_stages: tuple[Stage, ...] | None
    decides_occurrence: bool
    min_occurrence: int
    action_plan: bool
    circumstances: str  # "any", "required" or "absent"


@dataclass(frozen=True)
class WorkflowRules:
    decision_due_working_days: int
    early_warning_margin_percent: float
    occurrence_rule: str
    stages: Mapping[Stage, str]
    events: Mapping[Event, EventRules]

    def stage_name(self, stage: str | None) -> str:
        """The provider's words for a stage (the stage's own name where it has none)."""
        if not stage:
            return ""
        try:
            return self.stages.get(Stage(stage), stage)
        except ValueError:
            return stage

    def event(self, name: str) -> EventRules | None:
        try:
            return self.events.get(Event(name))
        except ValueError:
            return None


@dataclass(frozen=True)
class LetterheadRules:
    tone: str  # "formal" or "supportive"
    address: str | None
    phone: str | None
    email: str | None
    website: str | None
    contact_name: str | None  # the attendance contact, when no person is linked
    contact_email: str | None
    contact_phone: str | None
    approval: tuple[str, ...]  # the templates that wait for the head of programme's approval

    @property
    def supportive(self) -> bool:
        return self.tone == "supportive"


@dataclass(frozen=True)
class NoticeRule:
    """One absence alert: about which marks, on which occasion, to whom, how, and when."""

    marks: str  # "unauthorised" or "absent" (authorised or unauthorised)
    occasion: str  # "first_in_period", "later_in_period" or "every"
    to: tuple[str, ...]  # learner, learner_adult, parent_carer, employer, main_school
    channel: str  # "sms" or "email"
    hold_until: str | None  # "HH:MM" local (UK) time on the session's day; None: at once

    @property
    def categories(self) -> tuple[str, ...]:
        """The mark categories the notice is about."""
        return ("unauthorised",) if self.marks == "unauthorised" else ("authorised", "unauthorised")


@dataclass(frozen=True)
class ReportRules:
    send_ahead_minutes: int
    weekly_on: str | None  # a weekday's name
    weekly_at: str
    registers_at: str | None
    face_to_face_registers_within_minutes: int | None


@dataclass(frozen=True)
class PolicyRules:
    key: str
    provider: str
    title: str
    provision: str
    source_document: str
    document_version: str | None
    code_set: CodeSet
    attendance: AttendanceRules
    registers: RegisterRules
    absence: AbsenceRules
    contacts: ContactRules
    deadlines: DeadlineRules
    workflow: WorkflowRules
    letters: LetterheadRules
    reports: ReportRules
    notices: tuple[NoticeRule, ...] = ()

    @classmethod
    def from_document(cls, doc: Mapping[str, Any]) -> PolicyRules:
        """From a document ``PolicySchema`` validated and dumped (every key present)."""
        attendance = dict(doc["attendance"])
        attendance["authorised_reasons"] = tuple(attendance["authorised_reasons"])
        workflow = doc["workflow"]
        return cls(
            key=doc["key"],
            provider=doc["provider"],
            title=doc["title"],
            provision=doc["provision"],
            source_document=doc["source_document"],
            document_version=doc.get("document_version"),
            code_set=CodeSet(doc["code_set"]),
            attendance=_make(AttendanceRules, attendance),
            registers=_make(RegisterRules, doc["registers"]),
            absence=_make(AbsenceRules, doc.get("absence") or {}),
            contacts=_make(ContactRules, doc["contacts"]),
            deadlines=_make(DeadlineRules, doc.get("deadlines") or {}),
            workflow=WorkflowRules(
                decision_due_working_days=workflow["decision_due_working_days"],
                early_warning_margin_percent=workflow["early_warning_margin_percent"],
                occurrence_rule=workflow["occurrence_rule"],
                stages=MappingProxyType({Stage(k): v for k, v in workflow["stages"].items()}),
                events=MappingProxyType(
                    {
                        Event(name): _event(Event(name), spec)
                        for name, spec in workflow["events"].items()
                    }
                ),
            ),
            letters=_letterhead(doc.get("letters") or {}),
            notices=tuple(_notice(n, doc["contacts"]) for n in doc.get("notices") or ()),
            reports=_make(ReportRules, doc.get("reports") or {}),
        )


def _make(cls: type, values: Mapping[str, Any]) -> Any:
    """A rules dataclass from a section; keys the schema defaulted may be absent in old rows."""
    names = cls.__dataclass_fields__
    defaults = {
        "first_day_calling": False,
        "tone": "formal",
        "threshold_rule": "below",
        "send_ahead_minutes": 10,
        "weekly_at": "07:00",
    }
    return cls(**{n: values.get(n, defaults.get(n)) for n in names})


def _letterhead(values: Mapping[str, Any]) -> LetterheadRules:
    approval = tuple(values.get("approval", APPROVAL_DEFAULT))
    return _make(LetterheadRules, {**values, "approval": approval})


def _event(event: Event, spec: Mapping[str, Any]) -> EventRules:
    sources = spec.get("from", spec.get("from_stages"))
    return EventRules(
        event=event,
        label=spec["label"],
        roles=tuple(spec["roles"]),
        letters=tuple(LetterRule(x["template"], tuple(x["to"])) for x in spec.get("letters", [])),
        from_stages=tuple(Stage(s) for s in sources) if sources else None,
        decides_occurrence=spec.get("decides_occurrence", False),
        min_occurrence=spec.get("min_occurrence", 0),
        action_plan=spec.get("action_plan", False),
        circumstances=spec.get("circumstances", "any"),
    )


def _notice(spec: Mapping[str, Any], contacts: Mapping[str, Any]) -> NoticeRule:
    when = spec.get("when", "now")
    if when == "parents_report_absence_by":
        when = contacts["parents_report_absence_by"]
    return NoticeRule(
        marks=spec["marks"],
        occasion=spec["occasion"],
        to=tuple(spec["to"]),
        channel=spec["channel"],
        hold_until=None if when == "now" else when,
    )


_cache: dict[str, PolicyRules] = {}
_lock = threading.Lock()


def rules_for(sha256: str, document: Mapping[str, Any]) -> PolicyRules:
    """The rules of one version of a policy, built once per document hash."""
    rules = _cache.get(sha256)
    if rules is None:
        with _lock:
            rules = _cache.get(sha256) or PolicyRules.from_document(document)
            _cache[sha256] = rules
    return rules


def rules_of_version(sha256: str, document: Callable[[], Mapping[str, Any]]) -> PolicyRules:
    """``rules_for`` a version known by its hash, whose ``document()`` is read only for a
    version not yet built."""
    return _cache.get(sha256) or rules_for(sha256, document())


def rules_of(policy: Any) -> PolicyRules:
    """The rules of a stored policy row (anything with ``sha256`` and ``document``); the
    document (a deferred column) is read only for a version not yet built."""
    return rules_of_version(policy.sha256, lambda: policy.document)
