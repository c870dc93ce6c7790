"""Demo data: five providers' programmes, about 60 learners and half a term of registers.

``build_demo`` fills a freshly reset database (mark codes and the five policies already loaded). It
is deterministic for a given ``today`` and ``seed``. The people, places and organisations are
made up; phone numbers are from Ofcom's range for drama (07700 900xxx) and email addresses use the
reserved example domains.

The registers go through the real import path: every mark is written by ``import_register`` from a
CSV file built in memory. The demo's own rows are flushed but not committed first, so the import's
commit at the end commits the whole demo in one transaction; on any error nothing is kept.

After the scan has opened its cases, ``flag_for_safeguarding``, ``staff_tokens`` and
``programme_summaries`` give the demo command what a newcomer needs to act at once.
"""

from __future__ import annotations

import csv
import io
import logging
import random
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import and_, distinct, func, select
from werkzeug.security import generate_password_hash

from casework.cases.service import act
from casework.extensions import db
from casework.fields import UK
from casework.messages.reports import NAMES, build
from casework.messages.sender import SendSummary, send_due
from casework.messages.transports import LogTransport
from casework.models import (
    Case,
    CodeSet,
    Contact,
    ContactKind,
    DeliveryMode,
    Enrolment,
    Learner,
    LearnerAccount,
    MessageChannel,
    MessageStatus,
    OutboxMessage,
    Policy,
    Programme,
    ProgrammeRole,
    ProgrammeStaff,
    Role,
    Session,
    SessionKind,
    User,
    UserRole,
    academic_year_of,
)
from casework.policies import document_sha256, validated
from casework.policies.rules import rules_of
from casework.registers.importing import COLUMNS, import_register
from casework.registers.notices import queue_absence_notices
from casework.tokens import create_token

DEMO_PASSWORD = "casework-demo"
DEMO_EMAIL_DOMAIN = "demo.example.org"
# Enough term-time weekdays for about six and a half weeks of registers.
TEACHING_DAYS = 33
# Fewer teaching days than this so far this academic year: show the end of the previous one.
MINIMUM_TEACHING_DAYS = 20

# A typical English school year by half term: (start month, day), (end month, day).
_HALF_TERMS = (
    ((9, 2), (10, 23)),
    ((11, 2), (12, 18)),
    ((1, 5), (2, 12)),
    ((2, 22), (3, 26)),
    ((4, 12), (5, 21)),
    ((6, 1), (7, 16)),
)


class DemoError(RuntimeError):
    """The demo cannot be built here (for instance the database already holds data)."""


@dataclass(frozen=True)
class SignIn:
    role: str  # a casework.models.Role value, or "learner"
    label: str
    name: str
    email: str
    password: str


@dataclass(frozen=True)
class DemoSummary:
    as_at: date
    academic_year: int
    first_session_day: date
    last_session_day: date
    programmes: int
    learners: int
    enrolments: int
    parent_carers: int
    employers: int
    main_schools: int
    sessions: int
    marks: int
    staff_users: int
    learner_accounts: int
    register_import_id: int
    sign_ins: tuple[SignIn, ...]

    @property
    def contacts(self) -> int:
        return self.parent_carers + self.employers + self.main_schools


# --- the calendar --------------------------------------------------------------------------------


def _half_terms(academic_year: int) -> Iterator[tuple[date, date]]:
    for (start_month, start_day), (end_month, end_day) in _HALF_TERMS:
        start_year = academic_year if start_month >= 8 else academic_year + 1
        end_year = academic_year if end_month >= 8 else academic_year + 1
        yield date(start_year, start_month, start_day), date(end_year, end_month, end_day)


def _teaching_days(academic_year: int, before: date) -> list[date]:
    days = []
    for start, end in _half_terms(academic_year):
        day = start
        while day <= end and day < before:
            if day.weekday() < 5:
                days.append(day)
            day += timedelta(days=1)
    return days


def demo_period(today: date) -> tuple[int, list[date]]:
    """The academic year and the term-time weekdays the demo's registers cover, before ``today``.

    The last ``TEACHING_DAYS`` weekdays of term before today, within one academic year; early in
    the autumn term (or in the summer holiday) that is the end of the previous academic year.
    """
    year = academic_year_of(today)
    days = _teaching_days(year, today)
    if len(days) < MINIMUM_TEACHING_DAYS:
        year -= 1
        days = _teaching_days(year, today)
    return year, days[-TEACHING_DAYS:]


# --- made-up people and places -------------------------------------------------------------------


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


_GIVEN_NAMES = _words(
    "Oliver Amelia Harry Isla Jack Ava Noah Mia Charlie Grace George Freya Leo Lily Oscar Sophie "
    "Alfie Ella Jacob Evie Mohammed Aisha Yusuf Maryam Ibrahim Zara Kian Priya Arjun Chloe Ethan "
    "Ruby Tyler Megan Kai Holly Reece Jade Callum Niamh Rhys Cerys Dylan Bethan Ellie Harvey Poppy "
    "Mason Lacey Kacper Zofia Tobi Adaeze Femi Shannon Connor Jasmine Ryan Kayla Hamza Amara"
)
_FAMILY_NAMES = _words(
    "Smith Jones Taylor Brown Williams Wilson Johnson Davies Robinson Wright Thompson Evans Walker "
    "White Roberts Green Hall Wood Jackson Clarke Patel Khan Ahmed Hussain Begum Okafor Adeyemi "
    "Mensah Nowak Kowalski O'Brien Murphy Campbell Kaur Singh Hughes Edwards Lewis Harris Turner "
    "Baker Cooper Morgan Ward Price Fletcher Osei Chaudhry Reid Byrne"
)
_ADULT_NAMES = _words(
    "Sarah Emma Claire Lisa Michelle Nicola Gemma Rachel Karen Joanne David Paul Mark Andrew Lee "
    "Darren Wayne Gary Fatima Nasreen Samina Rajesh Tunde Agnieszka Marek Kelly Stuart Dawn"
)
_RELATIONSHIPS = ("Mother", "Mother", "Mother", "Father", "Father", "Carer", "Grandmother")
_STREETS = (
    "Mill Lane",
    "Church Road",
    "Station Road",
    "Victoria Road",
    "Orchard Close",
    "Hazel Grove",
    "Beech Avenue",
    "Park View",
    "Queens Road",
    "Canterbury Road",
    "London Road",
    "Manor Way",
    "Chestnut Drive",
    "Willow Walk",
    "Hop Garden Way",
    "Cherry Tree Rise",
)
# (town, postcode districts)
_TOWNS = (
    ("Ashford", ("TN23", "TN24")),
    ("Maidstone", ("ME14", "ME15", "ME16")),
    ("Canterbury", ("CT1", "CT2")),
    ("Folkestone", ("CT19", "CT20")),
    ("Sittingbourne", ("ME10",)),
    ("Gillingham", ("ME7", "ME8")),
    ("Tonbridge", ("TN9", "TN10")),
    ("Margate", ("CT9",)),
)
_INWARD_LETTERS = "ABDEFGHJLNPQRSTUWXYZ"  # the letters a postcode's inward code may use
_EMPLOYERS = (
    "Harbour View Dental Practice",
    "Medway Freight Services Ltd",
    "Kingsmead Accountants LLP",
    "Orchard House Care Group",
    "Weald Property Management Ltd",
    "Garden of England Foods Ltd",
    "Channel Print and Design",
    "Swale Builders Merchants Ltd",
    "Downs Veterinary Centre",
    "Stour Valley Engineering Ltd",
)
_SCHOOLS = (
    "Brambleford Academy",
    "Kingsdown Vale School",
    "Marshside Community College",
    "St Edith's Church of England Academy",
    "Elmstead Park School",
)


@dataclass(frozen=True)
class _Address:
    lines: str
    postcode: str


class _People:
    """Names, addresses, phone numbers and emails, unique and reproducible from one Random."""

    def __init__(self, rng: random.Random):
        self.rng = rng
        self.used_names: set[tuple[str, str]] = set()
        self.phones = iter(range(1, 1000))
        self.emails: set[str] = set()

    def name(self) -> tuple[str, str]:
        while True:
            pair = (self.rng.choice(_GIVEN_NAMES), self.rng.choice(_FAMILY_NAMES))
            if pair not in self.used_names:
                self.used_names.add(pair)
                return pair

    def address(self, first_line: str | None = None) -> _Address:
        town, districts = self.rng.choice(_TOWNS)
        street = f"{self.rng.randint(1, 120)} {self.rng.choice(_STREETS)}"
        inward = f"{self.rng.randint(1, 9)}{''.join(self.rng.choices(_INWARD_LETTERS, k=2))}"
        lines = [first_line] if first_line else []
        lines += [street, town, "Kent"]
        return _Address("\n".join(lines), f"{self.rng.choice(districts)} {inward}")

    def phone(self) -> str:
        return f"07700 900{next(self.phones):03d}"

    def email(self, given: str, family: str, domain: str = "example.com") -> str:
        local = f"{given}.{family}".lower().replace("'", "").replace(" ", "")
        candidate, n = f"{local}@{domain}", 1
        while candidate in self.emails:
            n += 1
            candidate = f"{local}{n}@{domain}"
        self.emails.add(candidate)
        return candidate

    def birthday(self, today: date, youngest: int, oldest: int) -> date:
        """A date of birth giving an age from ``youngest`` to ``oldest`` on ``today``."""
        age = self.rng.randint(youngest, oldest)
        latest = _years_before(today, age)  # the last day one could be born to be ``age`` today
        return latest - timedelta(days=self.rng.randint(0, 364))


def _years_before(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year - years)
    except ValueError:  # 29 February
        return day.replace(year=day.year - years, day=28)


# --- programmes and their timetables -------------------------------------------------------------


@dataclass(frozen=True)
class _Slot:
    """A weekly timetabled session: weekday (0 = Monday), times, kind, mode and title."""

    weekday: int
    start: time
    end: time
    kind: SessionKind
    mode: DeliveryMode
    title: str


def _weekdays(start: time, end: time, title: str) -> list[_Slot]:
    return [
        _Slot(d, start, end, SessionKind.SCHOOL_SESSION, DeliveryMode.FACE_TO_FACE, title)
        for d in range(5)
    ]


_F2F, _WORK, _REMOTE = DeliveryMode.FACE_TO_FACE, DeliveryMode.WORKPLACE, DeliveryMode.REMOTE
_K = SessionKind


@dataclass(frozen=True)
class _ProgrammePlan:
    policy_key: str
    code: str
    title: str
    ref_prefix: str
    learners: int
    ages: tuple[int, int]
    timetable: tuple[_Slot, ...]
    apprentices: bool = False
    dual_registered: bool = False
    commissioned_by_school: bool = False
    late_joiners: int = 0
    school_leavers: int = 0  # the first learners are 16 or 17 whatever ``ages`` says


_PLANS = (
    _ProgrammePlan(
        "000-sek",
        "SEK-EMP",
        "Steps into Work: Employability and Confidence",
        "SEK",
        10,
        (19, 58),
        (
            _Slot(1, time(10), time(12, 30), _K.WORKSHOP, _F2F, "Job search and CV workshop"),
            _Slot(2, time(13, 30), time(15), _K.GROUP_DIRECTED, _F2F, "Interview skills group"),
            _Slot(3, time(10), time(12), _K.WORKSHOP, _F2F, "Digital skills for work"),
        ),
        late_joiners=2,
    ),
    _ProgrammePlan(
        "001-sts",
        "STS-BA3",
        "Business Administrator Level 3 Apprenticeship",
        "STS",
        10,
        (19, 34),
        (_Slot(2, time(9, 30), time(12, 30), _K.WORKSHOP, _F2F, "Off-the-job training workshop"),),
        apprentices=True,
        school_leavers=3,
    ),
    _ProgrammePlan(
        "002-ap-schools",
        "APS-KS4",
        "Key Stage 4 Alternative Provision (Years 10 and 11)",
        "APS",
        10,
        (14, 15),
        (
            *_weekdays(time(9, 15), time(12, 15), "Morning session: English, maths and PSHE"),
            *_weekdays(time(13), time(15), "Afternoon session: construction skills"),
        ),
        commissioned_by_school=True,
    ),
    _ProgrammePlan(
        "003-green-labyrinth",
        "GL-HSC3",
        "Level 3 Health and Social Care",
        "GL",
        18,
        (16, 19),
        (
            _Slot(
                0, time(9), time(12), _K.WORKSHOP, _F2F, "Unit 5: Meeting care and support needs"
            ),
            _Slot(0, time(13), time(15, 30), _K.GROUP_DIRECTED, _F2F, "Unit 2: Working in care"),
            _Slot(1, time(9), time(12), _K.WORKSHOP, _F2F, "Unit 14: Physiological disorders"),
            _Slot(2, time(9), time(15), _K.WORK_PLACEMENT, _WORK, "Work placement"),
            _Slot(3, time(9), time(12), _K.WORKSHOP, _F2F, "Unit 8: Promoting public health"),
            _Slot(3, time(13), time(14), _K.GROUP_DIRECTED, _F2F, "Group tutorial"),
        ),
    ),
    _ProgrammePlan(
        "004-nxt-gen",
        "NXT-SUP",
        "Supplementary Provision: Engagement and Outdoor Learning",
        "NXT",
        12,
        (11, 15),
        (
            *_weekdays(time(9), time(12), "Morning session: English, maths and mentoring"),
            *_weekdays(time(13), time(15), "Afternoon session: outdoor learning"),
        ),
        dual_registered=True,
    ),
)

_STAFF = (
    (Role.ADMINISTRATOR, "Priya Shah", "admin"),
    (Role.HEAD_OF_PROGRAMME, "Daniel Okafor", "head"),
    (Role.TUTOR_MENTOR, "Rebecca Hughes", "tutor"),
    (Role.ADMINISTRATION_OFFICER, "Tom Fletcher", "officer"),
    (Role.SAFEGUARDING_LEAD, "Angela Morris", "safeguarding"),
)
# The tutor/mentor mentors the learners of these programmes (the school-age ones have key workers
# outside the demo), so the demo shows a tutor's narrower view.
_MENTORED_POLICIES = {"000-sek", "001-sts", "003-green-labyrinth"}


# --- marks ---------------------------------------------------------------------------------------


@dataclass
class _Planned:
    """A session to be created, and who is expected at it (everyone on the programme if None)."""

    ref: str
    starts_at: datetime
    ends_at: datetime
    kind: SessionKind
    mode: DeliveryMode
    title: str
    only: int | None = None  # index of the one learner at a 1-2-1 or coach visit


@dataclass
class _LearnerPlan:
    index: int
    learner: Learner
    enrolment: Enrolment
    profile: str
    start: date
    days_here: frozenset[int] = frozenset(range(5))  # weekdays at this provider (dual registration)
    sessions: list[_Planned] = field(default_factory=list)


class _Codes:
    """The codes to write for each outcome, in the programme's code set."""

    def __init__(self, code_set: CodeSet, reasons: list[str]):
        self.statutory = code_set is CodeSet.STATUTORY
        self.reasons = reasons
        self.late = "L"
        self.unauthorised = "O" if self.statutory else "U"
        self.not_yet_known = "N"
        self.elsewhere = "D"  # statutory only: attending the main school

    def present(self, starts_at: datetime) -> str:
        if self.statutory:
            return "/" if starts_at.hour < 12 else "\\"
        return "P"

    def authorised(self, reason: str) -> str:
        if not self.statutory:
            return "A"
        return {
            "illness": "I",
            "medical_appointment": "M",
            "religious_observance": "R",
            "interview": "J1",
        }.get(reason, "C")

    def occasional_reason(self, rng: random.Random) -> str:
        usual = [r for r in self.reasons if r != "illness"] or self.reasons
        return rng.choice(usual)


def _profiles(rng: random.Random, count: int) -> list[str]:
    """Mostly steady attenders; some drifting (a few with a current run of absence)."""
    profiles = (
        ["drift_with_run"] * max(1, round(count * 0.12))
        + ["drift"] * max(1, round(count * 0.12))
        + ["illness"] * max(1, round(count * 0.1))
        + ["late"] * max(1, round(count * 0.1))
    )
    profiles += ["steady"] * (count - len(profiles))
    rng.shuffle(profiles)
    return profiles


@dataclass
class _Mark:
    session: _Planned
    code: str
    minutes_late: int | None = None
    reason: str | None = None
    evidence: str | None = None
    attended: bool = True
    counted: bool = True


def _learner_marks(
    rng: random.Random, plan: _LearnerPlan, codes: _Codes, illness_evidence: bool
) -> list[_Mark]:
    by_day: dict[date, list[_Planned]] = {}
    for planned in sorted(plan.sessions, key=lambda s: s.starts_at):
        by_day.setdefault(planned.starts_at.date(), []).append(planned)
    days = sorted(by_day)
    here = [d for d in days if d.weekday() in plan.days_here]
    last = max(len(here) - 1, 1)
    profile = plan.profile

    illness_days: set[date] = set()
    if profile == "illness" and here:
        # Two to four teaching days ill in the middle of the half term; the learner with a fit
        # note six, over a weekend: more than seven calendar days, when a policy asks for one.
        first = rng.randint(len(here) // 4, len(here) // 2)
        length = 6 if illness_evidence else rng.randint(2, 4)
        illness_days = set(here[first : first + length])
    run_days = set(here[-rng.randint(2, 4) :]) if profile == "drift_with_run" else set()
    evidence = None
    if illness_evidence and illness_days:
        evidence = f"Fit note received {max(illness_days) + timedelta(days=1):%d/%m/%Y}"

    marks: list[_Mark] = []
    for day in days:
        sessions = by_day[day]
        if day.weekday() not in plan.days_here:
            marks += [_Mark(s, codes.elsewhere, attended=False, counted=False) for s in sessions]
            continue
        t = here.index(day) / last  # 0 on the first day here, 1 on the last
        drifting = profile.startswith("drift")
        if drifting:  # absence and lateness grow towards the end of the half term
            absent_chance, late_chance = 0.03 + 0.5 * t * t, 0.04 + 0.1 * t
        else:
            absent_chance = 0.02 if profile == "late" else 0.012
            late_chance = 0.25 if profile == "late" else 0.03
        if day in illness_days:
            marks += [
                _Mark(s, codes.authorised("illness"), None, "illness", evidence, attended=False)
                for s in sessions
            ]
        elif day in run_days:
            # The latest day's absence is not yet explained; earlier ones are unauthorised.
            code = codes.not_yet_known if day == here[-1] else codes.unauthorised
            marks += [_Mark(s, code, attended=False) for s in sessions]
        elif rng.random() < absent_chance:
            if drifting and rng.random() < 0.85:
                marks += [_Mark(s, codes.unauthorised, attended=False) for s in sessions]
            else:
                reason = codes.occasional_reason(rng)
                code = codes.authorised(reason)
                marks += [_Mark(s, code, None, reason, attended=False) for s in sessions]
        else:
            for s in sessions:
                if rng.random() < late_chance:
                    marks.append(_Mark(s, codes.late, rng.randint(4, 25)))
                else:
                    marks.append(_Mark(s, codes.present(s.starts_at)))

    if profile.startswith("drift"):
        # Drifting learners end the half term clearly below 90%: later present marks become
        # unauthorised absences until they do.
        counted = [m for m in marks if m.counted]
        later = [m for m in counted[len(counted) // 2 :] if m.attended]
        while later and sum(m.attended for m in counted) > 0.86 * len(counted):
            mark = later.pop(rng.randrange(len(later)))
            mark.code, mark.minutes_late, mark.attended = codes.unauthorised, None, False
    return marks


# --- building ------------------------------------------------------------------------------------


def _session_plan(
    plan: _ProgrammePlan, days: list[date], learners: list[_LearnerPlan], rng: random.Random
) -> list[_Planned]:
    sessions: list[_Planned] = []
    for day in days:
        for slot in plan.timetable:
            if slot.weekday == day.weekday():
                sessions.append(
                    _Planned(
                        f"{plan.code}-{day:%Y%m%d}-{slot.start:%H%M}",
                        datetime.combine(day, slot.start),
                        datetime.combine(day, slot.end),
                        slot.kind,
                        slot.mode,
                        slot.title,
                    )
                )
    if plan.apprentices:
        # Each apprentice: a remote 1-2-1 every other week and one coach visit at work.
        weeks = sorted({d - timedelta(days=d.weekday()) for d in days})
        for n, person in enumerate(learners):
            # Not on Wednesday (the workshop); mornings, so never at the time of a coach visit.
            weekday, slot_start = (0, 1, 3, 4)[n % 4], time(9 + n // 4, 30)
            visit_week = weeks[rng.randint(len(weeks) // 3, len(weeks) - 1)] if weeks else None
            for w, monday in enumerate(weeks):
                day = monday + timedelta(days=weekday)
                if day not in days:
                    continue
                if w % 2 == n % 2:
                    starts = datetime.combine(day, slot_start)
                    sessions.append(
                        _Planned(
                            f"{plan.code}-{day:%Y%m%d}-{slot_start:%H%M}-{person.index:02d}",
                            starts,
                            starts + timedelta(minutes=45),
                            SessionKind.ONE_TO_ONE,
                            DeliveryMode.REMOTE,
                            f"1-2-1 with skills coach: {person.learner.full_name}",
                            only=person.index,
                        )
                    )
                if monday == visit_week:
                    starts = datetime.combine(day, time(14, 0))
                    sessions.append(
                        _Planned(
                            f"{plan.code}-{day:%Y%m%d}-1400-{person.index:02d}",
                            starts,
                            starts + timedelta(minutes=90),
                            SessionKind.COACH_VISIT,
                            DeliveryMode.WORKPLACE,
                            f"Progress review at work: {person.learner.full_name}",
                            only=person.index,
                        )
                    )
    return sessions


def _ensure_empty() -> dict[str, Policy]:
    policies = {p.key: p for p in db.session.scalars(select(Policy))}
    missing = sorted({plan.policy_key for plan in _PLANS} - set(policies))
    if missing:
        raise DemoError(f"policies not loaded: {', '.join(missing)}; run casework init-db")
    for model in (Programme, Learner, User):
        if db.session.scalar(select(func.count()).select_from(model)):
            raise DemoError(
                "the database already holds data; the demo needs a freshly reset database "
                "(casework demo resets it first)"
            )
    return policies


def build_demo(today: date | None = None, seed: int = 7) -> DemoSummary:
    """Fill the (freshly reset) database with the demo, registers up to the day before ``today``."""
    today = today or date.today()
    rng = random.Random(seed)
    people = _People(rng)
    try:
        return _build(today, rng, people)
    except Exception:
        db.session.rollback()
        raise


def _fill_letterheads(policies: dict[str, Policy]) -> None:
    """The shipped policies leave the letterhead and the attendance contact to each provider;
    the demo fills them with made-up details so its letters look as a provider's would."""
    for key, policy in policies.items():
        site = f"{key.split('-', 1)[1]}.example.org"
        letters = {
            **asdict(rules_of(policy).letters),
            "address": "1 Station Road, Canterbury CT1 2AA",
            "phone": "01632 960 000",  # a number set aside for drama and examples
            "email": f"attendance@{site}",
            "website": f"https://{site}",
            "contact_name": "The attendance team",
            "contact_email": f"attendance@{site}",
        }
        policy.document = validated({**policy.document, "letters": letters})
        policy.sha256 = document_sha256(policy.document)


def _build(today: date, rng: random.Random, people: _People) -> DemoSummary:
    policies = _ensure_empty()
    _fill_letterheads(policies)
    academic_year, days = demo_period(today)
    year_start = next(_half_terms(academic_year))[0]

    # One salted hash for every demo account: scrypt is slow by design, and they share a password.
    password_hash = generate_password_hash(DEMO_PASSWORD)
    staff: dict[Role, User] = {}
    sign_ins: list[SignIn] = []
    for role, name, mailbox in _STAFF:
        user = User(name=name, email=f"{mailbox}@{DEMO_EMAIL_DOMAIN}", password_hash=password_hash)
        user.role_rows = [UserRole(role=role)]
        staff[role] = user
        sign_ins.append(SignIn(role.value, role.label, name, user.email, DEMO_PASSWORD))
    db.session.add_all(staff.values())

    counts = {"learners": 0, "parents": 0, "employers": 0, "schools": 0, "sessions": 0}
    rows: list[list[str]] = []
    account_candidates: list[tuple[int, int, Learner]] = []
    serial = 0
    for plan in _PLANS:
        policy = policies[plan.policy_key]
        programme = Programme(code=plan.code, title=plan.title, policy=policy)
        programme.staff_links = [
            ProgrammeStaff(user=staff[Role.HEAD_OF_PROGRAMME], role=ProgrammeRole.HEAD),
            ProgrammeStaff(
                user=staff[Role.ADMINISTRATION_OFFICER], role=ProgrammeRole.ADMINISTRATION
            ),
        ]
        db.session.add(programme)
        mentor = staff[Role.TUTOR_MENTOR] if plan.policy_key in _MENTORED_POLICIES else None

        learners: list[_LearnerPlan] = []
        profiles = _profiles(rng, plan.learners)
        for index in range(plan.learners):
            serial += 1
            ages = (16, 17) if index < plan.school_leavers else plan.ages
            learner = _learner(people, plan, today, academic_year, serial, ages)
            age = learner.age_on(today)
            contacts = rules_of(policy).contacts
            # Parents or carers of every learner under 18; where the policy involves them for
            # longer (003: up to 25), of some older learners too.
            if age < contacts.parent_carer_under_age or (
                age < (contacts.parent_carer_extended_under_age or 0) and people.rng.random() < 0.5
            ):
                learner.contacts.append(_parent(people, learner))
                counts["parents"] += 1
            if plan.apprentices:
                learner.contacts.append(_employer(people, index))
                counts["employers"] += 1
            if plan.dual_registered or plan.commissioned_by_school:
                learner.contacts.append(_school(people, index, plan.dual_registered))
                counts["schools"] += 1
            start = year_start
            if index >= plan.learners - plan.late_joiners and len(days) > 15:
                start = days[rng.randint(5, 12)]  # joined a rolling programme part-way through
            enrolment = Enrolment(
                learner=learner,
                programme=programme,
                academic_year=academic_year,
                start_date=start,
                is_apprentice=plan.apprentices,
                is_dual_registered=plan.dual_registered,
                mentor=mentor,
            )
            days_here = frozenset(range(5))
            if plan.dual_registered:
                days_here = frozenset(rng.sample(range(5), rng.choice((2, 3, 3))))
            learners.append(
                _LearnerPlan(index, learner, enrolment, profiles[index], start, days_here)
            )
            db.session.add(enrolment)
            # The learner account goes to an adult on the 003 programme, drifting if possible.
            if plan.policy_key == "003-green-labyrinth" and age >= 18:
                rank = 0 if profiles[index].startswith("drift") else 1
                account_candidates.append((rank, serial, learner))
        counts["learners"] += plan.learners

        planned = _session_plan(plan, days, learners, rng)
        db.session.add_all(
            Session(
                session_ref=p.ref,
                programme=programme,
                title=p.title,
                kind=p.kind,
                delivery_mode=p.mode,
                starts_at=p.starts_at,
                ends_at=p.ends_at,
                register_closes_at=p.starts_at
                + timedelta(minutes=rules_of(policy).registers.closes_after_minutes or 30),
            )
            for p in planned
        )
        counts["sessions"] += len(planned)

        codes = _Codes(policy.code_set, list(rules_of(policy).attendance.authorised_reasons))
        recorder = (
            staff[Role.ADMINISTRATION_OFFICER] if mentor is None else staff[Role.TUTOR_MENTOR]
        )
        evidence_given = False
        for person in learners:
            person.sessions = [
                p
                for p in planned
                if (p.only is None or p.only == person.index) and p.starts_at.date() >= person.start
            ]
            needs_evidence = person.profile == "illness" and not evidence_given
            evidence_given = evidence_given or needs_evidence
            for mark in _learner_marks(rng, person, codes, needs_evidence):
                delay = 31 if mark.code == codes.not_yet_known else rng.randint(2, 20)
                recorded_at = mark.session.starts_at + timedelta(minutes=delay)
                rows.append(
                    [
                        person.learner.learner_ref,
                        mark.session.ref,
                        mark.code,
                        "" if mark.minutes_late is None else str(mark.minutes_late),
                        mark.reason or "",
                        mark.evidence or "",
                        recorder.email,
                        recorded_at.isoformat(timespec="minutes"),
                    ]
                )

    accounts = 0
    if account_candidates:
        account_candidate = min(account_candidates, key=lambda c: c[:2])[2]
        account = LearnerAccount(
            learner=account_candidate,
            email=f"learner@{DEMO_EMAIL_DOMAIN}",
            password_hash=password_hash,
        )
        db.session.add(account)
        accounts = 1
        sign_ins.append(
            SignIn("learner", "Learner", account_candidate.full_name, account.email, DEMO_PASSWORD)
        )

    db.session.flush()
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(COLUMNS)
    writer.writerows(rows)
    result = import_register(
        buffer.getvalue().encode("utf-8"),
        filename=f"demo-registers-{days[0]:%Y%m%d}-{days[-1]:%Y%m%d}.csv",
        imported_by=staff[Role.ADMINISTRATION_OFFICER].email,
    )  # commits: the demo's rows and its marks together

    return DemoSummary(
        as_at=today,
        academic_year=academic_year,
        first_session_day=days[0],
        last_session_day=days[-1],
        programmes=len(_PLANS),
        learners=counts["learners"],
        enrolments=counts["learners"],
        parent_carers=counts["parents"],
        employers=counts["employers"],
        main_schools=counts["schools"],
        sessions=counts["sessions"],
        marks=result.created,
        staff_users=len(staff),
        learner_accounts=accounts,
        register_import_id=result.import_id,
        sign_ins=tuple(sign_ins),
    )


def _learner(
    people: _People,
    plan: _ProgrammePlan,
    today: date,
    academic_year: int,
    serial: int,
    ages: tuple[int, int],
) -> Learner:
    given, family = people.name()
    home = people.address()
    return Learner(
        learner_ref=f"{plan.ref_prefix}{academic_year % 100:02d}{serial:04d}",
        given_name=given,
        family_name=family,
        date_of_birth=people.birthday(today, *ages),
        email=people.email(given, family),
        phone=people.phone(),
        address=home.lines,
        postcode=home.postcode,
    )


def _parent(people: _People, learner: Learner) -> Contact:
    relationship = people.rng.choice(_RELATIONSHIPS)
    given = people.rng.choice(_ADULT_NAMES)
    family = learner.family_name if people.rng.random() < 0.8 else people.name()[1]
    same_home = people.rng.random() < 0.9
    home = (
        _Address(learner.address or "", learner.postcode or "") if same_home else people.address()
    )
    email, phone = people.email(given, family, "example.net"), people.phone()
    # A few parents gave no mobile number: the contact gaps page has something to show.
    if len(given + family) % 7 == 0:
        phone = None
    return Contact(
        kind=ContactKind.PARENT_CARER,
        name=f"{given} {family}",
        relationship_to_learner=relationship,
        email=email,
        phone=phone,
        address=home.lines,
        postcode=home.postcode,
        notify_by_sms=True,
        notify_by_email=True,
    )


def _organisation_contact(
    people: _People, kind: ContactKind, organisation: str, role: str, domain: str
) -> Contact:
    """A named person at an employer or school, reached at the organisation's address."""
    given, family = people.rng.choice(_ADULT_NAMES), people.rng.choice(_FAMILY_NAMES)
    where = people.address(first_line=organisation)
    return Contact(
        kind=kind,
        name=f"{given} {family}",
        relationship_to_learner=f"{role}, {organisation}",
        email=people.email(given, family, domain),
        phone=people.phone(),
        address=where.lines,
        postcode=where.postcode,
        notify_by_email=True,
    )


def _employer(people: _People, index: int) -> Contact:
    company = _EMPLOYERS[index % len(_EMPLOYERS)]
    return _organisation_contact(
        people, ContactKind.EMPLOYER, company, "Line manager", "example.co.uk"
    )


def _school(people: _People, index: int, dual_registered: bool) -> Contact:
    school = _SCHOOLS[index % len(_SCHOOLS)]
    role = "Attendance officer" if dual_registered else "Inclusion lead (commissioning school)"
    return _organisation_contact(people, ContactKind.MAIN_SCHOOL, school, role, "example.sch.uk")


__all__ = ["DEMO_PASSWORD", "DemoError", "DemoSummary", "SignIn", "build_demo", "demo_period"]


# --- after the scan: what the demo command prints ------------------------------------------------

SAFEGUARDING_NOTE = (
    "Demo: the learner told their tutor of worries at home; the safeguarding lead follows this."
)


@dataclass(frozen=True)
class ProgrammeSummary:
    code: str
    title: str
    provider: str
    learners: int
    open_cases: int
    threshold: str  # the policy's words: "below 90%"


def programme_summaries() -> list[ProgrammeSummary]:
    """Each programme, by title, with its learners and its open cases."""
    rows = db.session.execute(
        select(Programme, func.count(distinct(Enrolment.id)), func.count(distinct(Case.id)))
        .outerjoin(Enrolment, Enrolment.programme_id == Programme.id)
        .outerjoin(Case, and_(Case.enrolment_id == Enrolment.id, Case.ended_at.is_(None)))
        .group_by(Programme.id)
        .order_by(Programme.title)
    )
    return [
        ProgrammeSummary(
            programme.code,
            programme.title,
            programme.policy.provider,
            learners,
            open_cases,
            rules_of(programme.policy).attendance.threshold_words,
        )
        for programme, learners, open_cases in rows
    ]


def flag_for_safeguarding() -> Case | None:
    """Flag the first open case for safeguarding, as its head of programme, through the case
    service: the safeguarding lead then has a case to see."""
    case = db.session.scalars(
        select(Case).where(Case.ended_at.is_(None)).order_by(Case.id).limit(1)
    ).first()
    if case is None:
        return None
    head = db.session.scalars(
        select(User)
        .join(ProgrammeStaff, ProgrammeStaff.user_id == User.id)
        .where(
            ProgrammeStaff.programme_id == case.enrolment.programme_id,
            ProgrammeStaff.role == ProgrammeRole.HEAD,
        )
    ).first()
    act(
        actor=head,
        event="flag_safeguarding",
        case_id=case.id,
        note=SAFEGUARDING_NOTE,
        expected_version=case.version,
    )
    return case


def staff_tokens(sign_ins: Iterable[SignIn]) -> list[tuple[SignIn, str]]:
    """A new API token for each staff account, with its secret (shown once)."""
    return [
        (sign_in, create_token(email=sign_in.email, name="demo")[1])
        for sign_in in sign_ins
        if sign_in.role != "learner"
    ]


@dataclass(frozen=True)
class DemoMessages:
    alerts: int  # absence alerts queued for the last register day
    reports: int  # reports built for that day
    outbox: SendSummary  # what send-due did with them (logged: the demo sends nothing)
    gaps: int  # messages held for want of an address (the contact gaps page lists them)


def demo_messages(summary: DemoSummary) -> DemoMessages:
    """The last register day's messages as if casework had been running that day: the absence
    alerts its marks call for, the reports due that day, and a send-due run through the
    development transports, which log instead of sending (the demo's addresses are made up, and
    it never uses a configured SMTP server or Notify key)."""
    day = summary.last_session_day
    evening = datetime.combine(day, time(18), UK).astimezone(UTC)
    alerts = queue_absence_notices(summary.register_import_id, evening)
    db.session.commit()
    built = [r for name in NAMES for r in build(name, day, now=evening, queue=True)]
    outbox = send_due(
        transports={channel: LogTransport(channel, logging.DEBUG) for channel in MessageChannel},
    )
    gaps = db.session.scalar(
        select(func.count())
        .select_from(OutboxMessage)
        .where(OutboxMessage.status == MessageStatus.NO_ADDRESS)
    )
    return DemoMessages(alerts.queued + alerts.no_address, len(built), outbox, gaps or 0)
