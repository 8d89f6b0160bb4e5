"""Public helpers for testing Clarity and code built on it (as ``sgkit.testing``)."""

from clarity.testing._examples import (
    EXAMPLE_START,
    example_patient_records,
    example_producer,
    example_records,
)
from clarity.testing._openai_server import OpenAIStubServer

__all__ = [
    "EXAMPLE_START",
    "OpenAIStubServer",
    "example_patient_records",
    "example_producer",
    "example_records",
]
