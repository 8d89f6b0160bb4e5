"""Users, their roles and assignments, and consent: one SQLite database.

Roles (deny by default):

- ``admin``: everything, including ingest and user management;
- ``clinician``: the patients assigned to them;
- ``patient``: their own record only;
- ``researcher``: pseudonymised cohort data only (no free text, no identifiers).

Consent is recorded per patient and data category as a history of permit/deny
decisions (modelled on FHIR Consent ``provision.type``); the decision in force
at a time is the latest one made before it.
"""

from __future__ import annotations

import re
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Literal

from clarity._utils import enable_wal, from_micros, to_micros
from clarity.errors import BackendError, ConfigurationError
from clarity.security._passwords import hash_password, verify_password

__all__ = [
    "AccessStore",
    "ConsentCategory",
    "ConsentDecision",
    "Role",
    "User",
    "category_of",
]

_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{1,63}$")


class Role(StrEnum):
    """What a user may see and do."""

    admin = "admin"
    clinician = "clinician"
    patient = "patient"
    researcher = "researcher"


class ConsentCategory(StrEnum):
    """Kinds of patient data that consent is given or withdrawn for."""

    clinical = "clinical"
    notes = "notes"
    mood = "mood"
    wearable = "wearable"
    physiology = "physiology"
    genomic = "genomic"
    research = "research"


_TOPIC_CATEGORY = {
    "ingest.patient": ConsentCategory.clinical,
    "ingest.observation": ConsentCategory.clinical,
    "ingest.condition": ConsentCategory.clinical,
    "ingest.medication": ConsentCategory.clinical,
    "ingest.note": ConsentCategory.notes,
    "ingest.mood": ConsentCategory.mood,
    "ingest.actigraphy": ConsentCategory.wearable,
    "ingest.rr_intervals": ConsentCategory.physiology,
    "ingest.ecg": ConsentCategory.physiology,
    "ingest.genotype": ConsentCategory.genomic,
    "ingest.pgx": ConsentCategory.genomic,
    "wearable": ConsentCategory.wearable,
    "physiology": ConsentCategory.physiology,
    "genotype": ConsentCategory.genomic,
    "pgx": ConsentCategory.genomic,
    "notes": ConsentCategory.notes,
    "mood": ConsentCategory.mood,
}


def category_of(topic: str) -> ConsentCategory:
    """Return the consent category of a topic's data.

    Parameters
    ----------
    topic
        A bus topic, e.g. ``"ingest.note"`` or ``"wearable.daily_risk"``.

    Returns
    -------
    ConsentCategory
        The category; ``clinical`` for topics not listed.

    Examples
    --------
    >>> category_of("ingest.actigraphy"), category_of("pgx.guidance")
    (<ConsentCategory.wearable: 'wearable'>, <ConsentCategory.genomic: 'genomic'>)
    """
    return _TOPIC_CATEGORY.get(topic) or _TOPIC_CATEGORY.get(
        topic.split(".")[0], ConsentCategory.clinical
    )


@dataclass(frozen=True)
class User:
    """A user of the API and dashboard.

    Parameters
    ----------
    username
        Login name.
    role
        What they may see and do.
    patient_id
        A patient user's own record.
    active
        False once deactivated.
    """

    username: str
    role: Role
    patient_id: str | None = None
    active: bool = True


@dataclass(frozen=True)
class ConsentDecision:
    """One consent decision in a patient's history.

    Parameters
    ----------
    patient_id
        The patient's pseudonym.
    category
        The data category.
    decision
        ``"permit"`` or ``"deny"``.
    decided_at
        From when it holds.
    decided_by
        Who recorded it.
    """

    patient_id: str
    category: ConsentCategory
    decision: Literal["permit", "deny"]
    decided_at: datetime
    decided_by: str


_SCHEMA = """
CREATE TABLE IF NOT EXISTS users (
    username TEXT PRIMARY KEY,
    role TEXT NOT NULL,
    patient_id TEXT,
    password_hash TEXT NOT NULL,
    active INTEGER NOT NULL DEFAULT 1,
    created_at_us INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS assignments (
    username TEXT NOT NULL REFERENCES users(username),
    patient_id TEXT NOT NULL,
    PRIMARY KEY (username, patient_id)
);
CREATE TABLE IF NOT EXISTS consent (
    id INTEGER PRIMARY KEY,
    patient_id TEXT NOT NULL,
    category TEXT NOT NULL,
    decision TEXT NOT NULL CHECK (decision IN ('permit', 'deny')),
    decided_at_us INTEGER NOT NULL,
    decided_by TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS consent_by_patient ON consent(patient_id, category, decided_at_us);
"""


class AccessStore:
    """Users, assignments and consent in a SQLite file.

    Parameters
    ----------
    path
        The database file; created when missing.
    consent_default
        The decision for a category no decision was ever made for.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> store = AccessStore(pathlib.Path(tempfile.mkdtemp()) / "access.sqlite3")
    >>> store.add_user("ruth", "clinician", password="a long passphrase")
    User(username='ruth', role=<Role.clinician: 'clinician'>, patient_id=None, active=True)
    >>> store.assign("ruth", "p-abc")
    >>> store.patients_of("ruth")
    ['p-abc']
    """

    def __init__(
        self, path: Path | str, *, consent_default: Literal["permit", "deny"] = "permit"
    ) -> None:
        self.path = Path(path)
        self.consent_default = consent_default
        self._lock = threading.Lock()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            self._conn.execute("PRAGMA busy_timeout=30000")
            enable_wal(self._conn)
            self._conn.execute("PRAGMA foreign_keys=ON")
            self._conn.executescript(_SCHEMA)
        except (sqlite3.Error, OSError) as error:
            raise BackendError(f"Cannot open the access database {self.path}: {error}") from error

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
                self._conn.execute("COMMIT")
            except BaseException:
                if self._conn.in_transaction:
                    self._conn.execute("ROLLBACK")
                raise

    def _rows(self, sql: str, params: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
        with self._lock:
            return self._conn.execute(sql, params).fetchall()

    # ------------------------------------------------------------------ users

    def add_user(
        self,
        username: str,
        role: Role | str,
        *,
        password: str,
        patient_id: str | None = None,
    ) -> User:
        """Create a user (or replace its role and password).

        Parameters
        ----------
        username
            Lower-case login name.
        role
            One of :class:`Role`.
        password
            At least 12 characters.
        patient_id
            The pseudonym of a ``patient`` user's own record.

        Returns
        -------
        User
            The user.

        Raises
        ------
        ConfigurationError
            For a bad name, role, password, or a patient user without a record.
        """
        if not _NAME.match(username):
            raise ConfigurationError(
                "The 'username' must be 2 to 64 lower-case letters, digits and '._-'. "
                f"Got {username!r} instead."
            )
        if role not in Role.__members__:
            raise ConfigurationError(
                f"Invalid value for the 'role' parameter. Allowed values are "
                f"{', '.join(Role.__members__)}, but got {role!r} instead."
            )
        if len(password) < 12:
            raise ConfigurationError("Passwords must be at least 12 characters long.")
        if (Role(role) is Role.patient) != (patient_id is not None):
            raise ConfigurationError(
                "A patient user needs a patient_id, and only a patient user has one."
            )
        with self._transaction() as conn:
            conn.execute(
                "INSERT INTO users VALUES (?, ?, ?, ?, 1, ?) ON CONFLICT(username) DO UPDATE SET "
                "role = excluded.role, patient_id = excluded.patient_id, "
                "password_hash = excluded.password_hash, active = 1",
                (
                    username,
                    Role(role).value,
                    patient_id,
                    hash_password(password),
                    to_micros(datetime.now(UTC)),
                ),
            )
        return User(username, Role(role), patient_id)

    def user(self, username: str) -> User | None:
        """Return an active user.

        Parameters
        ----------
        username
            The login name.

        Returns
        -------
        User or None
            The user, or None when unknown or deactivated.
        """
        rows = self._rows(
            "SELECT username, role, patient_id, active FROM users WHERE username = ?", (username,)
        )
        if not rows or not rows[0][3]:
            return None
        name, role, patient, _ = rows[0]
        return User(str(name), Role(str(role)), str(patient) if patient else None)

    def users(self) -> list[User]:
        """Return every active user.

        Returns
        -------
        list of User
            By name.
        """
        rows = self._rows(
            "SELECT username, role, patient_id FROM users WHERE active = 1 ORDER BY 1"
        )
        return [User(str(n), Role(str(r)), str(p) if p else None) for n, r, p in rows]

    def authenticate(self, username: str, password: str) -> User | None:
        """Check a password.

        Parameters
        ----------
        username, password
            The credentials.

        Returns
        -------
        User or None
            The user when the password is right, else None.
        """
        rows = self._rows(
            "SELECT password_hash FROM users WHERE username = ? AND active = 1", (username,)
        )
        if not rows or not verify_password(password, str(rows[0][0])):
            return None
        return self.user(username)

    def deactivate(self, username: str) -> None:
        """Stop a user from signing in; their audit history stays.

        Parameters
        ----------
        username
            The user.
        """
        with self._transaction() as conn:
            conn.execute("UPDATE users SET active = 0 WHERE username = ?", (username,))

    def assign(self, username: str, patient_id: str) -> None:
        """Let a clinician see a patient.

        Parameters
        ----------
        username
            An active clinician.
        patient_id
            The patient's pseudonym.
        """
        user = self.user(username)
        if user is None or user.role is not Role.clinician:
            raise ConfigurationError(f"{username!r} is not an active clinician.")
        with self._transaction() as conn:
            conn.execute("INSERT OR IGNORE INTO assignments VALUES (?, ?)", (username, patient_id))

    def unassign(self, username: str, patient_id: str) -> None:
        """Stop a clinician seeing a patient.

        Parameters
        ----------
        username
            The clinician.
        patient_id
            The patient's pseudonym.
        """
        with self._transaction() as conn:
            conn.execute(
                "DELETE FROM assignments WHERE username = ? AND patient_id = ?",
                (username, patient_id),
            )

    def patients_of(self, username: str) -> list[str]:
        """Return the patients assigned to a clinician.

        Parameters
        ----------
        username
            The clinician.

        Returns
        -------
        list of str
            Pseudonyms, sorted.
        """
        return [
            str(r[0])
            for r in self._rows(
                "SELECT patient_id FROM assignments WHERE username = ? ORDER BY 1", (username,)
            )
        ]

    # ------------------------------------------------------------------ consent

    def set_consent(
        self,
        patient_id: str,
        category: ConsentCategory | str,
        decision: Literal["permit", "deny"],
        *,
        by: str,
        at: datetime | None = None,
    ) -> ConsentDecision:
        """Record a consent decision; it holds from ``at`` (now) on.

        Parameters
        ----------
        patient_id
            The patient's pseudonym.
        category
            The data category.
        decision
            ``"permit"`` or ``"deny"``.
        by
            Who recorded it.
        at
            When it takes effect.

        Returns
        -------
        ConsentDecision
            The recorded decision.
        """
        if category not in ConsentCategory.__members__:
            raise ConfigurationError(
                f"Invalid consent category {category!r}; allowed: "
                f"{', '.join(ConsentCategory.__members__)}."
            )
        if decision not in ("permit", "deny"):
            raise ConfigurationError(f"A consent decision is 'permit' or 'deny', not {decision!r}.")
        moment = at or datetime.now(UTC)
        with self._transaction() as conn:
            conn.execute(
                "INSERT INTO consent(patient_id, category, decision, decided_at_us, decided_by) "
                "VALUES (?, ?, ?, ?, ?)",
                (patient_id, ConsentCategory(category).value, decision, to_micros(moment), by),
            )
        return ConsentDecision(patient_id, ConsentCategory(category), decision, moment, by)

    def consent(self, patient_id: str) -> dict[ConsentCategory, ConsentDecision | None]:
        """Return the decision in force now for every category.

        Parameters
        ----------
        patient_id
            The patient's pseudonym.

        Returns
        -------
        dict
            Decision by category; None where none was recorded and the default applies.
        """
        now = to_micros(datetime.now(UTC))
        result: dict[ConsentCategory, ConsentDecision | None] = {}
        for category in ConsentCategory:
            rows = self._rows(
                "SELECT decision, decided_at_us, decided_by FROM consent WHERE patient_id = ? "
                "AND category = ? AND decided_at_us <= ? "
                "ORDER BY decided_at_us DESC, id DESC LIMIT 1",
                (patient_id, category.value, now),
            )
            if not rows:
                result[category] = None
                continue
            decision, at_us, by = rows[0]
            result[category] = ConsentDecision(
                patient_id,
                category,
                "permit" if decision == "permit" else "deny",
                from_micros(int(str(at_us))),
                str(by),
            )
        return result

    def allowed(
        self, patient_id: str, category: ConsentCategory | str, at: datetime | None = None
    ) -> bool:
        """Tell whether a category of a patient's data may be processed at a time.

        Parameters
        ----------
        patient_id
            The patient's pseudonym.
        category
            The data category.
        at
            The time of processing; now by default.

        Returns
        -------
        bool
            The latest decision made at or before ``at``, or the default.
        """
        moment = to_micros(at or datetime.now(UTC))
        rows = self._rows(
            "SELECT decision FROM consent WHERE patient_id = ? AND category = ? "
            "AND decided_at_us <= ? "
            "ORDER BY decided_at_us DESC, id DESC LIMIT 1",
            (patient_id, ConsentCategory(category).value, moment),
        )
        decision = str(rows[0][0]) if rows else self.consent_default
        return decision == "permit"

    def close(self) -> None:
        """Close the database."""
        with self._lock:
            self._conn.close()
