"""Clarity: an open-source mental-health digital twin platform.

Services publish timestamped, versioned records onto one feature bus
(:mod:`clarity.bus`) under one contract (:mod:`clarity.contracts`). Importing
``clarity`` stays light: model libraries (torch, xgboost, transformers) and
MLflow are imported only inside the parts that need them.
"""

from clarity._version_info import __version__
from clarity.errors import ClarityError

__all__ = ["ClarityError", "__version__"]
