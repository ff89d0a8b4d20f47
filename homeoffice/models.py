"""Every table, imported in one place so that Alembic and the tests see the whole schema."""

from sqlmodel import SQLModel

from homeoffice.audit.models import AuditEvent
from homeoffice.auth.models import LoginAttempt, LoginSession
from homeoffice.devices.models import Device
from homeoffice.directory.models import (
    LocalDirectoryGroup,
    LocalDirectoryMembership,
    LocalDirectoryUser,
)
from homeoffice.people.models import Person, Unit
from homeoffice.rooms.models import Building, Room

metadata = SQLModel.metadata

__all__ = [
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
    "metadata",
]
