"""The ``flask --app homeoffice …`` commands: set-up, demo data, directory sync, the
lifecycle operations, exports, and the scheduler process."""

from __future__ import annotations

import secrets

import click
from flask import Flask, current_app
from flask.cli import with_appcontext

from homeoffice.db import engine, session_scope


def register(app: Flask) -> None:
    app.cli.add_command(init_db)
    app.cli.add_command(demo_data)
    app.cli.add_command(sync_directory)
    app.cli.add_command(apply_dates)
    app.cli.add_command(reconcile_access)
    app.cli.add_command(revoke_access)
    app.cli.add_command(refresh_crl)
    app.cli.add_command(export)
    app.cli.add_command(allocate_rooms)
    app.cli.add_command(scheduler)
    app.cli.add_command(run_job)
    app.cli.add_command(delete_expired_contacts)


@click.command("init-db")
@with_appcontext
def init_db() -> None:
    """Create the database schema, or bring it up to date (Alembic migrations)."""
    from homeoffice.migrations import current_revision, upgrade

    before = current_revision(engine())
    upgrade(engine())
    after = current_revision(engine())
    if before == after:
        click.echo(f"Database schema is up to date (revision {after}).")
    else:
        click.echo(f"Database schema upgraded from {before or 'empty'} to revision {after}.")


@click.command("demo-data")
@with_appcontext
@click.option("--password", help="Password for every demo login (default: a new random one).")
def demo_data(password: str | None) -> None:
    """Fill the local directory and the database with the demo city of Musterstadt."""
    from homeoffice.demo import load_demo_city

    if current_app.config["DIRECTORY"] != "local":
        raise click.ClickException(
            "demo-data writes the local directory; "
            "it refuses to run with HOMEOFFICE_DIRECTORY=ldap."
        )
    password = password or secrets.token_urlsafe(9)
    if not password.strip():
        raise click.ClickException("The password must not be empty.")
    with session_scope() as session:
        summary = load_demo_city(session, password=password, config=current_app.config)
    click.echo(
        f"Musterstadt: {summary['people']} staff in {summary['units']} units, "
        f"{summary['rooms']} rooms, {summary['devices']} laptops."
    )
    if summary["agreements"]:
        made = summary["agreements"]
        click.echo(
            f"Home office: {made['ordinary']} ordinary agreements in force, "
            f"{made['temporary']} temporary ones from the pandemic (expired), "
            f"{made['expired']} expired ordinary ones, {made['pending']} open requests, "
            f"{made['rejected']} rejected, {made['withdrawn']} withdrawn."
        )
    click.echo("Demo logins (all with the same password):")
    for username, description in summary["logins"]:
        click.echo(f"  {username:<18} {description}")
    click.echo(f"Password: {password}")


@click.command("sync-directory")
@with_appcontext
def sync_directory() -> None:
    """Import staff, units and managers from the configured directory."""
    from homeoffice.directory import open_directory
    from homeoffice.people.services import sync_people
    from vpn.directory import DirectoryError

    with session_scope() as session:
        directory = open_directory(current_app.config, session)
        try:
            report = sync_people(
                session=session, directory=directory, role_groups=current_app.config["ROLE_GROUPS"]
            )
        except DirectoryError as exc:
            raise click.ClickException(f"Directory sync failed, nothing changed: {exc}") from exc
        finally:
            directory.close()
    click.echo(
        f"Directory sync: {report.created} created, {report.updated} updated, "
        f"{report.deactivated} deactivated, {report.reactivated} reactivated, "
        f"{report.unchanged} unchanged."
    )


@click.command("apply-dates")
@click.option("--today", type=click.DateTime(formats=["%Y-%m-%d"]), help="Day to act for.")
@with_appcontext
def apply_dates(today) -> None:
    """Activate agreements whose start has come and expire those whose end has passed."""
    from datetime import date

    from homeoffice.agreements.services import apply_dates as apply

    day = today.date() if today else date.today()
    with session_scope() as session:
        counts = apply(session, today=day)
    click.echo(f"{day}: {counts['activated']} agreements activated, {counts['expired']} expired.")


@click.command("reconcile-access")
@click.option("--repair", is_flag=True, help="Make the directory match the service.")
@with_appcontext
def reconcile_access(repair: bool) -> None:
    """Compare the VPN and terminal-server groups and account expiry with what was issued."""
    from datetime import date

    from homeoffice.access import services
    from homeoffice.directory import open_directory
    from vpn.directory import DirectoryError

    with session_scope() as session:
        directory = open_directory(current_app.config, session)
        try:
            differences = services.reconcile(
                session=session,
                directory=directory,
                config=current_app.config,
                today=date.today(),
            )
            for difference in differences:
                click.echo(
                    f"{difference.kind:<20} {difference.person_dn} {difference.group_dn or ''}"
                )
            if repair and differences:
                fixed = services.repair(
                    session=session,
                    directory=directory,
                    differences=differences,
                    by=None,
                    config=current_app.config,
                    today=date.today(),
                )
                click.echo(f"{fixed} differences repaired.")
            elif not differences:
                click.echo("The directory matches what the service issued.")
        except (DirectoryError, services.AccessError) as exc:
            raise click.ClickException(f"Reconciliation stopped, nothing changed: {exc}") from exc
        finally:
            directory.close()


@click.command("revoke-access")
@with_appcontext
def revoke_access() -> None:
    """Take back the access of ended, expired and revoked agreements (open tasks), and
    carry changed end dates of renewed agreements into the directory."""
    from datetime import date

    from homeoffice.access import services
    from homeoffice.directory import open_directory

    with session_scope() as session:
        directory = open_directory(current_app.config, session)
        try:
            counts = services.revoke_due(
                session=session,
                directory=directory,
                config=current_app.config,
                today=date.today(),
            )
            counts.update(services.adjust_expiry_due(session=session, directory=directory))
        finally:
            directory.close()
    click.echo(
        f"{counts['revoked']} revoked, {counts['failed']} failed (kept for a retry); "
        f"{counts['expiry_adjusted']} expiry dates changed, {counts['expiry_failed']} failed."
    )


@click.command("refresh-crl")
@with_appcontext
def refresh_crl() -> None:
    """Sign a fresh certificate revocation list before the current one runs out."""
    from homeoffice.access.authority import publish_crl

    with session_scope() as session:
        record = publish_crl(session, current_app.config)
    click.echo(
        f"CRL number {record.crl_number} valid until {record.crl_next_update:%Y-%m-%d %H:%M}."
    )


@click.command("export")
@click.argument(
    "kind", type=click.Choice(["devices", "vpn", "terminal-server", "roster", "agreements", "plan"])
)
@click.argument("output", type=click.Path(dir_okay=False, writable=True))
@click.option("--unit", help="Only this unit (its name).")
@click.option("--start", type=click.DateTime(formats=["%Y-%m-%d"]), help="Plan: first day.")
@click.option("--end", type=click.DateTime(formats=["%Y-%m-%d"]), help="Plan: last day.")
@with_appcontext
def export(kind: str, output: str, unit: str | None, start, end) -> None:
    """Write an Excel roster to OUTPUT (recorded in the audit log)."""
    import getpass

    from sqlmodel import select

    from homeoffice.exports import rosters
    from homeoffice.people.models import Unit

    with session_scope() as session:
        found = None
        if unit:
            found = session.exec(select(Unit).where(Unit.name == unit)).first()
            if found is None:
                raise click.ClickException(f"There is no unit called {unit!r}.")
        rosters.export(
            session=session,
            kind=kind,
            target=output,
            export_filter=rosters.ExportFilter(
                found.id if found else None,
                unit,
                start.date() if start else None,
                end.date() if end else None,
            ),
            by=None,
            by_name=f"command line ({getpass.getuser()})",
            config=current_app.config,
        )
    click.echo(f"Wrote {output}.")


@click.command("allocate-rooms")
@click.option("--weeks", type=int, help="How many weeks ahead (default ALLOCATION_WEEKS).")
@with_appcontext
def allocate_rooms(weeks: int | None) -> None:
    """Give every person present a single office from today on (past days stay)."""
    from datetime import date

    from homeoffice.rooms.services import run_allocation

    with session_scope() as session:
        summary = run_allocation(
            session=session, today=date.today(), config=current_app.config, by=None, weeks=weeks
        )
    click.echo(
        f"{summary.start} to {summary.end}: {summary.placed} of {summary.person_days} office "
        f"days have a room, {len(summary.unplaced)} without."
    )


@click.command("delete-expired-contacts")
@with_appcontext
def delete_expired_contacts() -> None:
    """Delete room allocations past the retention period (the contact report's data)."""
    from datetime import date

    from homeoffice.rooms.services import delete_expired_contacts as delete

    with session_scope() as session:
        count = delete(
            session=session,
            today=date.today(),
            retention_days=current_app.config["CONTACT_RETENTION_DAYS"],
        )
    click.echo(f"{count} room allocations deleted.")


@click.command("scheduler")
@with_appcontext
def scheduler() -> None:
    """Run the scheduled jobs until stopped; a separate process, never in a web worker."""
    from homeoffice.jobs.schedule import build_scheduler, schedule

    app = current_app._get_current_object()
    if app.config["SCHEDULER_EMBEDDED"]:
        click.echo("Note: SCHEDULER_EMBEDDED is set; do not also run this process.", err=True)
    click.echo(f"Scheduler started with {len(schedule(app.config))} jobs; stop it with Ctrl+C.")
    try:
        build_scheduler(app).start()
    except (KeyboardInterrupt, SystemExit):
        click.echo("Scheduler stopped.")


@click.command("run-job")
@click.argument("name")
@click.option("--occurrence", help="The slot to run for (default: a new one, so it runs now).")
@with_appcontext
def run_job(name: str, occurrence: str | None) -> None:
    """Run one scheduled job now, under the same lease and record as the scheduler."""
    from homeoffice.db import utcnow
    from homeoffice.jobs.runner import JOBS
    from homeoffice.jobs.runner import run_job as run

    if name not in JOBS:
        raise click.ClickException(f"Unknown job {name!r}; known: {', '.join(sorted(JOBS))}.")
    key = occurrence or f"manual-{utcnow():%Y-%m-%dT%H:%M:%SZ}"
    result = run(current_app._get_current_object(), name, occurrence=key)
    if result is None:
        click.echo(f"{name} {key}: skipped (another process runs it, or it already succeeded).")
    elif result.outcome == "failed":
        raise click.ClickException(f"{name} {key} failed: {result.error}")
    else:
        click.echo(f"{name} {key}: {result.counts}")
