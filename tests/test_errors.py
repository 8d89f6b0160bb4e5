from __future__ import annotations

import pytest

from clarity import errors
from clarity.errors import ClarityError, ContractViolation, FieldError


def test_errors__every_error_is_a_clarity_error_and_drawn_in_the_docstring():
    classes = [
        getattr(errors, n)
        for n in errors.__all__
        if isinstance(getattr(errors, n), type) and n != "FieldError"
    ]
    for cls in classes:
        assert issubclass(cls, ClarityError | errors.ClarityWarning)
        assert cls.__name__ in errors.__doc__


@pytest.mark.parametrize(
    ("cls", "builtin"),
    [
        (errors.InputError, ValueError),
        (errors.ConfigurationError, ValueError),
        (errors.NotFittedError, AttributeError),
        (errors.BackendError, RuntimeError),
        (errors.RegistryError, LookupError),
    ],
)
def test_errors__builtins_still_catch_them(cls, builtin):
    assert issubclass(cls, builtin)


def test_contract_violation__message_lists_fields_and_keeps_context():
    error = ContractViolation(
        "Record rejected",
        topic="ingest.mood",
        record_id="abc",
        errors=[FieldError("payload.mood", "too high"), FieldError("", "inconsistent")],
    )
    assert str(error) == "Record rejected: field 'payload.mood': too high; record: inconsistent"
    assert (error.topic, error.record_id, len(error.errors)) == ("ingest.mood", "abc", 2)
    assert str(ContractViolation("Plain")) == "Plain"
