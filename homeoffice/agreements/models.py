"""Home-office requests (Antrag) and agreements (Dienstvereinbarung Homeoffice)."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import JSON, Column, ForeignKey, Index, Integer, text
from sqlmodel import Field, SQLModel

from homeoffice.db import timestamp_column, utcnow

#: request states; "open" ones block a second request of the same person
DRAFT = "draft"
SUBMITTED = "submitted"
ENDORSED = "endorsed"
OBJECTED = "objected"
APPROVED = "approved"
REJECTED = "rejected"
WITHDRAWN = "withdrawn"
OPEN_REQUEST_STATES = (DRAFT, SUBMITTED, ENDORSED, OBJECTED)
REQUEST_STATES = (*OPEN_REQUEST_STATES, APPROVED, REJECTED, WITHDRAWN)

#: agreement states
ACTIVE = "active"
ENDED = "ended"
EXPIRED = "expired"
REVOKED = "revoked"
AGREEMENT_STATES = (APPROVED, ACTIVE, ENDED, EXPIRED, REVOKED)
CURRENT_AGREEMENT_STATES = (APPROVED, ACTIVE)

#: kinds of request
NEW = "new"
AMENDMENT = "amendment"
RENEWAL = "renewal"
REQUEST_KINDS = (NEW, AMENDMENT, RENEWAL)

#: the wished pattern of home-office days
SHARE = "share"
WEEKDAYS = "weekdays"
ALTERNATING = "alternating"
PATTERNS = (SHARE, WEEKDAYS, ALTERNATING)

#: equipment a request can ask for
EQUIPMENT = ("laptop", "vpn", "terminal_server", "private_computer")


class HomeOfficeRequest(SQLModel, table=True):
    """A request for home office, its endorsement and HR's decision (Antrag)."""

    __tablename__ = "home_office_request"
    __table_args__ = (
        # At most one open request per person, enforced by the database as well.
        Index(
            "uq_request_open_per_person",
            "person_id",
            unique=True,
            sqlite_where=text("state IN ('draft', 'submitted', 'endorsed', 'objected')"),
            postgresql_where=text("state IN ('draft', 'submitted', 'endorsed', 'objected')"),
        ),
        # The HR queue shows the oldest first: an index in that order spares the sort.
        Index("ix_request_queue_order", "submitted_at", "id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    person_id: int = Field(foreign_key="person.id", index=True)
    #: new, amendment or renewal
    kind: str = Field(default=NEW, max_length=20)
    #: the agreement an amendment or renewal refers to
    agreement_id: int | None = Field(
        default=None,
        # request → agreement → request is a cycle; this constraint comes after both tables.
        sa_column=Column(
            Integer,
            ForeignKey("agreement.id", use_alter=True, name="fk_request_agreement_id_agreement"),
            index=True,
        ),
    )
    state: str = Field(default=DRAFT, max_length=20, index=True)

    #: space-separated reasons from policies.REASONS
    reasons: str = Field(default="", max_length=200)
    children_under_14: int = 0
    youngest_child_age: int | None = None
    #: Pflegegrad 1-5 of the dependent in need of care
    care_level: int | None = None
    commute_km: float | None = None
    commute_minutes: int | None = None
    #: the person will hand a medical certificate to HR; no diagnosis is ever stored
    health_certificate: bool = False
    other_text: str | None = Field(default=None, max_length=1000)

    pattern: str = Field(default=SHARE, max_length=20)
    share_percent: int | None = None
    #: comma-separated ISO weekday numbers 1 (Monday) … 5 (Friday)
    weekdays: str | None = Field(default=None, max_length=20)
    start_date: date
    #: None: until revoked
    end_date: date | None = None

    wants_laptop: bool = False
    wants_vpn: bool = False
    wants_terminal_server: bool = False
    uses_private_computer: bool = False

    #: the eligibility verdict when the request was sent (policies.Verdict.as_dict())
    verdict: dict | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    eligible: bool | None = Field(default=None, index=True)
    rule_set: str | None = Field(default=None, max_length=100)
    priority: int = 0

    created_at: datetime = Field(default_factory=utcnow, sa_column=timestamp_column(index=True))
    submitted_at: datetime | None = Field(default=None, sa_column=timestamp_column(nullable=True))
    endorsed_by_id: int | None = Field(default=None, foreign_key="person.id")
    endorsed_at: datetime | None = Field(default=None, sa_column=timestamp_column(nullable=True))
    #: the supervisor's note; required when they object
    endorsement_note: str | None = Field(default=None, max_length=2000)
    decided_by_id: int | None = Field(default=None, foreign_key="person.id")
    decided_at: datetime | None = Field(default=None, sa_column=timestamp_column(nullable=True))
    #: HR's reason; required for a rejection
    decision_reason: str | None = Field(default=None, max_length=2000)
    #: HR's reason for approving beyond the unit's quota or against the verdict
    override_reason: str | None = Field(default=None, max_length=2000)
    withdrawn_at: datetime | None = Field(default=None, sa_column=timestamp_column(nullable=True))

    @property
    def reason_set(self) -> frozenset[str]:
        return frozenset(self.reasons.split())

    @property
    def weekday_set(self) -> frozenset[int]:
        return frozenset(int(d) for d in (self.weekdays or "").split(",") if d)

    @property
    def is_open(self) -> bool:
        return self.state in OPEN_REQUEST_STATES

    def __repr__(self) -> str:
        return f"<HomeOfficeRequest {self.id} {self.state}>"


class Agreement(SQLModel, table=True):
    """An approved home-office agreement (Dienstvereinbarung) with its term and days."""

    __table_args__ = (
        Index(
            "uq_agreement_active_per_person",
            "person_id",
            unique=True,
            sqlite_where=text("state = 'active'"),
            postgresql_where=text("state = 'active'"),
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    person_id: int = Field(foreign_key="person.id", index=True)
    #: the request whose approval created this agreement
    request_id: int = Field(foreign_key="home_office_request.id", unique=True)
    #: the agreement this one replaces (amendment or renewal)
    replaces_id: int | None = Field(default=None, foreign_key="agreement.id")
    state: str = Field(default=APPROVED, max_length=20, index=True)
    #: "ordinary" or "temporary" (infection control), from the rule set that decided
    kind: str = Field(default="ordinary", max_length=20, index=True)
    start_date: date = Field(index=True)
    end_date: date | None = Field(default=None, index=True)
    pattern: str = Field(max_length=20)
    share_percent: int | None = None
    weekdays: str | None = Field(default=None, max_length=20)
    days_per_week: float = 0
    #: the rule-set version the decision was taken under; never changes afterwards
    rule_set: str = Field(max_length=100)
    conditions: str | None = Field(default=None, max_length=4000)
    #: HR checked the medical certificate (health reasons only)
    health_verified: bool = False
    created_at: datetime = Field(default_factory=utcnow, sa_column=timestamp_column())
    activated_at: datetime | None = Field(default=None, sa_column=timestamp_column(nullable=True))
    ended_at: datetime | None = Field(default=None, sa_column=timestamp_column(nullable=True))
    end_reason: str | None = Field(default=None, max_length=2000)

    @property
    def weekday_set(self) -> frozenset[int]:
        return frozenset(int(d) for d in (self.weekdays or "").split(",") if d)

    def __repr__(self) -> str:
        return f"<Agreement {self.id} {self.state}>"
