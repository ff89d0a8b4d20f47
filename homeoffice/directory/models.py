"""The local directory: people and groups kept in the database.

It stands in for OpenLDAP / Active Directory where none is configured (the demo and
small installations) and answers through the same ``vpn.directory.Directory``
interface, so login and sync do not know which one they talk to.
"""

from __future__ import annotations

from datetime import date

from sqlmodel import Field, SQLModel


class LocalDirectoryUser(SQLModel, table=True):
    __tablename__ = "local_directory_user"

    id: int | None = Field(default=None, primary_key=True)
    username: str = Field(max_length=128, unique=True, index=True)
    dn: str = Field(max_length=1000, unique=True)
    display_name: str = Field(max_length=300)
    mail: str | None = Field(default=None, max_length=320)
    unit: str | None = Field(default=None, max_length=200)
    manager_dn: str | None = Field(default=None, max_length=1000)
    employee_number: str | None = Field(default=None, max_length=64)
    #: argon2id hash; None means the account cannot log in
    password_hash: str | None = Field(default=None, max_length=200)
    #: the last day the account may be used; None: no expiry
    account_expires: date | None = None

    def __repr__(self) -> str:
        return f"<LocalDirectoryUser {self.username!r}>"


class LocalDirectoryGroup(SQLModel, table=True):
    __tablename__ = "local_directory_group"

    id: int | None = Field(default=None, primary_key=True)
    dn: str = Field(max_length=1000, unique=True)
    name: str = Field(max_length=200)

    def __repr__(self) -> str:
        return f"<LocalDirectoryGroup {self.dn!r}>"


class LocalDirectoryMembership(SQLModel, table=True):
    __tablename__ = "local_directory_membership"

    group_id: int = Field(foreign_key="local_directory_group.id", primary_key=True)
    user_id: int = Field(foreign_key="local_directory_user.id", primary_key=True)
