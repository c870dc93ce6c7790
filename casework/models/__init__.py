"""The data model. Importing this package registers every table on ``db.metadata``."""

from casework.models.api import ApiToken, IdempotentRequest
from casework.models.cases import (
    ActionPlan,
    Case,
    CaseEvent,
    DueItem,
    DueKind,
    Letter,
    LetterApproval,
    LetterJob,
    LetterStatus,
    Occurrence,
    PlanReview,
    ReviewOutcome,
    ScanRun,
)
from casework.models.codes import CodeSet, MarkCategory, MarkCode
from casework.models.enrolments import (
    Enrolment,
    EnrolmentStatus,
    academic_year_label,
    academic_year_of,
)
from casework.models.learners import Contact, ContactKind, Learner, LearnerAccount, full_name
from casework.models.messages import (
    DeliveryAttempt,
    MessageChannel,
    MessageKind,
    MessageStatus,
    OutboxMessage,
    Report,
    queue_message,
)
from casework.models.policies import Policy
from casework.models.programmes import Programme, ProgrammeRole, ProgrammeStaff
from casework.models.registers import (
    AbsenceReason,
    DeliveryMode,
    Mark,
    MarkChange,
    RegisterImport,
    Session,
    SessionKind,
)
from casework.models.staff import Role, User, UserRole
from casework.models.tallies import EnrolmentTally

__all__ = [
    "AbsenceReason",
    "ActionPlan",
    "ApiToken",
    "Case",
    "CaseEvent",
    "CodeSet",
    "Contact",
    "ContactKind",
    "DeliveryAttempt",
    "DeliveryMode",
    "DueItem",
    "DueKind",
    "Enrolment",
    "EnrolmentStatus",
    "EnrolmentTally",
    "IdempotentRequest",
    "Learner",
    "LearnerAccount",
    "Letter",
    "LetterApproval",
    "LetterJob",
    "LetterStatus",
    "Mark",
    "MarkCategory",
    "MarkChange",
    "MarkCode",
    "MessageChannel",
    "MessageKind",
    "MessageStatus",
    "Occurrence",
    "OutboxMessage",
    "PlanReview",
    "Policy",
    "Programme",
    "ProgrammeRole",
    "ProgrammeStaff",
    "RegisterImport",
    "Report",
    "ReviewOutcome",
    "Role",
    "ScanRun",
    "Session",
    "SessionKind",
    "User",
    "UserRole",
    "academic_year_label",
    "academic_year_of",
    "full_name",
    "queue_message",
]
