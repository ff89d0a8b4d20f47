"""``LocalDirectory``: the ``vpn.directory.Directory`` interface over database tables."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy.exc import OperationalError
from sqlmodel import Session, func, select

from homeoffice.directory.models import (
    LocalDirectoryGroup,
    LocalDirectoryMembership,
    LocalDirectoryUser,
)
from vpn.directory import (
    DirectoryError,
    DirectoryPerson,
    DirectoryUnavailable,
    NoSuchEntry,
    is_blank,
)

_hasher = PasswordHasher()
#: a hash of nothing anyone knows, verified for unknown users to even out timing
_DUMMY_HASH = _hasher.hash("no user has this password")


def hash_password(password: str) -> str:
    """An argon2id hash for the local directory."""
    return _hasher.hash(password)


def _spend_verification_time(password: str) -> None:
    try:
        _hasher.verify(_DUMMY_HASH, password)
    except VerificationError:
        pass


class LocalDirectory:
    """People and groups from the ``local_directory_*`` tables, on the caller's session."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def _person(self, user: LocalDirectoryUser, with_groups: bool) -> DirectoryPerson:
        groups: frozenset[str] = frozenset()
        if with_groups:
            rows = self.session.exec(
                select(LocalDirectoryGroup.dn)
                .join(LocalDirectoryMembership)
                .where(LocalDirectoryMembership.user_id == user.id)
            )
            groups = frozenset(rows)
        return DirectoryPerson(
            username=user.username,
            dn=user.dn,
            display_name=user.display_name,
            mail=user.mail,
            unit=user.unit,
            manager_dn=user.manager_dn,
            employee_number=user.employee_number,
            groups=groups,
        )

    def _user(self, username: str) -> LocalDirectoryUser | None:
        return self.session.exec(
            select(LocalDirectoryUser).where(LocalDirectoryUser.username == username)
        ).first()

    def authenticate(self, username: str, password: str) -> DirectoryPerson | None:
        if is_blank(password) or not username or not username.strip():
            return None
        user = self._user(username.strip())
        if user is None or not user.password_hash:
            # Spend the same time as a real check so that timing does not tell
            # which login names exist.
            _spend_verification_time(password)
            return None
        try:
            _hasher.verify(user.password_hash, password)
        except (VerificationError, InvalidHashError):
            return None
        return self._person(user, with_groups=True)

    def find_person(self, username: str) -> DirectoryPerson | None:
        user = self._user(username)
        return None if user is None else self._person(user, with_groups=True)

    def iter_people(self) -> Iterator[DirectoryPerson]:
        for user in self.session.exec(select(LocalDirectoryUser).order_by(LocalDirectoryUser.id)):
            yield self._person(user, with_groups=False)

    def _group(self, group_dn: str) -> LocalDirectoryGroup | None:
        return self.session.exec(
            select(LocalDirectoryGroup).where(LocalDirectoryGroup.dn == group_dn)
        ).first()

    def members_of(self, group_dn: str) -> set[str]:
        rows = self.session.exec(
            select(LocalDirectoryUser.dn)
            .join(LocalDirectoryMembership)
            .join(LocalDirectoryGroup)
            .where(LocalDirectoryGroup.dn == group_dn)
        )
        return set(rows)

    def _membership(self, group_dn: str, person_dn: str):
        group = self._group(group_dn)
        user = self.session.exec(
            select(LocalDirectoryUser).where(LocalDirectoryUser.dn == person_dn)
        ).first()
        return group, user

    def add_to_group(self, group_dn: str, person_dn: str) -> bool:
        group, user = self._membership(group_dn, person_dn)
        if group is None or user is None:
            raise DirectoryError(f"no such group or person: {group_dn!r}, {person_dn!r}")
        if self.session.get(LocalDirectoryMembership, (group.id, user.id)) is not None:
            return False
        self.session.add(LocalDirectoryMembership(group_id=group.id, user_id=user.id))
        self.session.flush()
        return True

    def remove_from_group(self, group_dn: str, person_dn: str) -> None:
        group, user = self._membership(group_dn, person_dn)
        if group is None or user is None:
            return
        membership = self.session.get(LocalDirectoryMembership, (group.id, user.id))
        if membership is not None:
            self.session.delete(membership)
            self.session.flush()

    def _user_by_dn(self, person_dn: str) -> LocalDirectoryUser:
        user = self.session.exec(
            select(LocalDirectoryUser).where(LocalDirectoryUser.dn == person_dn)
        ).first()
        if user is None:
            raise NoSuchEntry(f"no such person: {person_dn!r}")
        return user

    def get_account_expiry(self, person_dn: str) -> date | None:
        return self._user_by_dn(person_dn).account_expires

    def set_account_expiry(self, person_dn: str, last_day: date | None) -> None:
        user = self._user_by_dn(person_dn)
        user.account_expires = last_day
        self.session.flush()

    def set_password(self, person_dn: str, password: str) -> None:
        if is_blank(password):
            raise DirectoryError("refusing to set a blank password")
        user = self._user_by_dn(person_dn)
        user.password_hash = hash_password(password)
        self.session.flush()

    def check(self) -> tuple[bool, str]:
        try:
            count = self.session.exec(select(func.count()).select_from(LocalDirectoryUser)).one()
        except OperationalError as exc:
            raise DirectoryUnavailable("local directory tables not readable") from exc
        return True, f"local directory with {count} people"

    def close(self) -> None:
        """Nothing to release: the session belongs to the caller."""
