"""``serverless/validate.py`` as a module for the tests that check its stages one by one.

It is a script for its own environment (``.venv-sam``), not a package of this project: it is
loaded from its path, once per test session, under the name ``thermostat_validate``.
"""

from __future__ import annotations

import importlib.util
import sys
from functools import cache
from pathlib import Path
from types import ModuleType

VALIDATE = Path(__file__).resolve().parents[1] / "serverless" / "validate.py"


@cache
def validate_module() -> ModuleType:
    """The loaded ``serverless/validate.py``."""
    spec = importlib.util.spec_from_file_location("thermostat_validate", VALIDATE)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("thermostat_validate", module)
    spec.loader.exec_module(module)
    return module
