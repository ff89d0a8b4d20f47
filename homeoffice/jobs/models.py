"""The job lease and the record of every job run."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Column, Index, UniqueConstraint, text
from sqlmodel import Field, SQLModel

from homeoffice.db import timestamp_column, utcnow

#: outcomes of a job run
OK = "ok"
FAILED = "failed"
SKIPPED = "skipped"
OUTCOMES = (OK, FAILED, SKIPPED)

#: the longest error text kept on a run
ERROR_LENGTH = 2000


class JobLease(SQLModel, table=True):
    """Who runs a job right now, and until when the claim holds.

    One row per job; a second scheduler process finds the row and stays out until the
    lease has expired (a crashed holder cannot block a job for longer than that).
    """

    __tablename__ = "job_lease"

    #: the job's name in ``homeoffice.jobs.runner.JOBS``
    job: str = Field(primary_key=True, max_length=50)
    #: host, process id and a random part of the process that holds the lease
    holder: str = Field(max_length=200)
    expires_at: datetime = Field(sa_column=timestamp_column())

    def __repr__(self) -> str:
        return f"<JobLease {self.job} {self.holder} until {self.expires_at:%Y-%m-%d %H:%M}>"


class JobRun(SQLModel, table=True):
    """One run of a job for one occurrence, with its outcome and counts.

    At most one successful run per job and occurrence, enforced by the database: the
    "ok" row is written in the job's own transaction, so its effect and this record
    commit together or not at all.
    """

    __tablename__ = "job_run"
    __table_args__ = (
        Index(
            "uq_job_run_ok_occurrence",
            "job",
            "occurrence",
            unique=True,
            sqlite_where=text("outcome = 'ok'"),
            postgresql_where=text("outcome = 'ok'"),
        ),
        # The admin page and /health read a job's latest runs.
        Index("ix_job_run_job_id", "job", "id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    job: str = Field(max_length=50)
    #: the scheduled slot the run stands for: a local date or a UTC time in ISO form
    occurrence: str = Field(max_length=40)
    started_at: datetime = Field(default_factory=utcnow, sa_column=timestamp_column(index=True))
    finished_at: datetime | None = Field(default=None, sa_column=timestamp_column(nullable=True))
    #: ok, failed or skipped
    outcome: str = Field(max_length=20)
    #: what the job did, e.g. ``{"activated": 2, "expired": 0}``
    counts: dict | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    #: the error of a failed run, cut to ERROR_LENGTH characters
    error: str | None = Field(default=None, max_length=ERROR_LENGTH)
    holder: str = Field(max_length=200)

    def __repr__(self) -> str:
        return f"<JobRun {self.id} {self.job} {self.occurrence} {self.outcome}>"


class Reminder(SQLModel, table=True):
    """A reminder that went out, so that a job run twice (or late) never sends it again.

    ``stage`` says which reminder of the object it was: "30" or "7" days before an
    agreement ends, or the ISO week of an overdue device's weekly reminder.
    """

    __table_args__ = (UniqueConstraint("kind", "object_id", "stage"),)

    id: int | None = Field(default=None, primary_key=True)
    #: agreement_end or device_overdue
    kind: str = Field(max_length=30)
    object_id: int
    stage: str = Field(max_length=20)
    sent_at: datetime = Field(default_factory=utcnow, sa_column=timestamp_column())

    def __repr__(self) -> str:
        return f"<Reminder {self.kind} {self.object_id} {self.stage}>"
