"""The README's table of environment variables is the user's reference: every variable the
control plane reads (a field of infra.settings.Settings) must be in it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from infra.settings import Settings

pytestmark = pytest.mark.unit

README = Path(__file__).resolve().parents[2] / "README.md"


def _documented() -> set[str]:
    text = README.read_text(encoding="utf-8")
    section = text.split("## Environment variables", 1)[1].split("\n## ", 1)[0]
    names: set[str] = set()
    for row in section.splitlines():
        if not row.startswith("| `"):
            continue
        first_cell = row.split("|")[1]
        names.update(re.findall(r"`([A-Z][A-Z0-9_]+)`", first_cell))
    return names


def test_every_settings_field_is_in_the_readme_table() -> None:
    # Given the variables the settings model reads, When the README's table is read
    read = {info.alias for info in Settings.model_fields.values() if info.alias}
    # Then each one has a row
    assert read - _documented() == set()
