"""The one exception tree of Clarity.

Every error Clarity raises on purpose is a :class:`ClarityError`, so callers can
catch the whole family at a boundary (a bus consumer, an API handler) and log it
once there::

    ClarityError
    ├── InputError                  bad data from outside: reject, never guess
    │   ├── ContractViolation       a record does not satisfy the contract
    │   ├── MalformedFHIR           a FHIR resource cannot be read
    │   ├── CorruptVCF              a VCF/BCF cannot be read
    │   └── TruncatedActigraphy     an actigraphy export is cut short
    ├── ConfigurationError          settings that cannot work (unknown backend, ...)
    ├── NotFittedError              a model used before ``fit``
    ├── BackendError                a storage or messaging backend failed
    │   └── BusClosedError          the bus (or consumer) was used after ``close``
    └── RegistryError               a model cannot be registered or found

    ClarityWarning (a UserWarning)  something was skipped that the caller should know of

Errors are raised where they happen and logged once where they are handled.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

__all__ = [
    "BackendError",
    "BusClosedError",
    "ClarityError",
    "ClarityWarning",
    "ConfigurationError",
    "ContractViolation",
    "CorruptVCF",
    "FieldError",
    "InputError",
    "MalformedFHIR",
    "NotFittedError",
    "RegistryError",
    "TruncatedActigraphy",
]


class ClarityWarning(UserWarning):
    """Base class of every warning Clarity issues."""


class ClarityError(Exception):
    """Base class of every error Clarity raises on purpose."""


class InputError(ClarityError, ValueError):
    """Data from outside Clarity is invalid and was rejected."""


@dataclass(frozen=True)
class FieldError:
    """One reason a record was rejected.

    Parameters
    ----------
    loc
        Dotted path of the offending field, e.g. ``"payload.items.3.score"``;
        empty for a record-level problem.
    msg
        Why the value was rejected, in words.
    type
        A short machine-readable error type, e.g. ``"less_than_equal"``.
    """

    loc: str
    msg: str
    type: str = "value_error"

    def __str__(self) -> str:
        where = f"field '{self.loc}'" if self.loc else "record"
        return f"{where}: {self.msg}"


class ContractViolation(InputError):
    """A record does not satisfy the Clarity contract.

    Parameters
    ----------
    message
        Summary of the violation.
    topic
        The topic the record was meant for, when known.
    record_id
        The record's ``event_id`` (as text), when known; used by the dead-letter topic.
    errors
        Each field that failed and why.
    """

    def __init__(
        self,
        message: str,
        *,
        topic: str | None = None,
        record_id: str | None = None,
        errors: Sequence[FieldError] = (),
    ) -> None:
        self.topic = topic
        self.record_id = record_id
        self.errors = tuple(errors)
        details = "; ".join(str(e) for e in self.errors)
        super().__init__(f"{message}: {details}" if details else message)


class MalformedFHIR(InputError):
    """A FHIR resource or bundle cannot be read."""


class CorruptVCF(InputError):
    """A VCF or BCF file cannot be read."""


class TruncatedActigraphy(InputError):
    """An actigraphy export ends before the data it announces."""


class ConfigurationError(ClarityError, ValueError):
    """Settings that cannot work, such as an unknown backend name."""


class NotFittedError(ClarityError, AttributeError):
    """A model was used before it was fitted."""


class BackendError(ClarityError, RuntimeError):
    """A storage or messaging backend failed."""


class BusClosedError(BackendError):
    """The bus or a consumer was used after it was closed."""


class RegistryError(ClarityError, LookupError):
    """A model cannot be registered, or the requested version does not exist."""
