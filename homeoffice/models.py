"""Every table, imported in one place so that Alembic and the tests see the whole schema."""

from sqlmodel import SQLModel

from homeoffice.access.models import CertificateAuthorityRecord, Credential, RemoteApplication
from homeoffice.agreements.models import Agreement, HomeOfficeRequest
from homeoffice.api.models import ApiToken
from homeoffice.audit.models import AuditEvent
from homeoffice.auth.models import LoginAttempt, LoginSession
from homeoffice.devices.models import Device, Handover
from homeoffice.directory.models import (
    LocalDirectoryGroup,
    LocalDirectoryMembership,
    LocalDirectoryUser,
)
from homeoffice.jobs.models import JobLease, JobRun, Reminder
from homeoffice.notifications.models import OutboxMessage
from homeoffice.people.models import Person, Unit
from homeoffice.presence.models import (
    Absence,
    CalendarFeed,
    DayOverride,
    GroupMembership,
    Rotation,
    Swap,
)
from homeoffice.rooms.models import (
    AllocationRun,
    Building,
    HomeRoom,
    Room,
    RoomAllocation,
    RoomUnit,
)
from homeoffice.tasks.models import ItTask
from homeoffice.webhooks.models import Webhook, WebhookDelivery

metadata = SQLModel.metadata

__all__ = [
    "JobLease",
    "JobRun",
    "Reminder",
    "Absence",
    "CalendarFeed",
    "DayOverride",
    "GroupMembership",
    "AllocationRun",
    "HomeRoom",
    "RoomAllocation",
    "RoomUnit",
    "Rotation",
    "Swap",
    "CertificateAuthorityRecord",
    "Credential",
    "Handover",
    "RemoteApplication",
    "Agreement",
    "ApiToken",
    "HomeOfficeRequest",
    "ItTask",
    "OutboxMessage",
    "AuditEvent",
    "Building",
    "Device",
    "LocalDirectoryGroup",
    "LocalDirectoryMembership",
    "LocalDirectoryUser",
    "LoginAttempt",
    "LoginSession",
    "Person",
    "Room",
    "Unit",
    "Webhook",
    "WebhookDelivery",
    "metadata",
]
