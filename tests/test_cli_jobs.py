"""The run-job command: the same lease and record as the scheduler."""

from sqlmodel import select

from homeoffice.db import session_scope
from homeoffice.jobs.models import JobRun


def test_run_job_once_per_occurrence_and_unknown_jobs_refused(app, runner):
    first = runner.invoke(args=["run-job", "apply_dates", "--occurrence", "2026-12-01"])
    assert first.exit_code == 0 and "'activated': 0" in first.output, first.output
    again = runner.invoke(args=["run-job", "apply_dates", "--occurrence", "2026-12-01"])
    assert "skipped" in again.output
    unknown = runner.invoke(args=["run-job", "make_coffee"])
    assert unknown.exit_code != 0 and "Unknown job" in unknown.output
    with app.app_context(), session_scope() as session:
        runs = session.exec(select(JobRun)).all()
    assert [(r.job, r.occurrence, r.outcome) for r in runs] == [
        ("apply_dates", "2026-12-01", "ok")
    ]
