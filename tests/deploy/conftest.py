"""Fixtures for the deploy tests: the chart rendered once per variant per session."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

# The helpers live beside this file; make them importable whatever pytest's import mode.
sys.path.insert(0, str(Path(__file__).resolve().parent))

from chart_harness import VARIANTS, ZONE_VARIANTS, Variant, render_chart


@pytest.fixture(scope="session")
def rendered() -> dict[str, Variant]:
    for variant in VARIANTS.values():
        if not variant.objects:
            variant.objects = render_chart(variant.values, variant.api_versions)
    return VARIANTS


@pytest.fixture(params=sorted(VARIANTS))
def variant(request: pytest.FixtureRequest, rendered: dict[str, Variant]) -> Variant:
    return rendered[request.param]


@pytest.fixture(params=ZONE_VARIANTS)
def zone_variant(request: pytest.FixtureRequest, rendered: dict[str, Variant]) -> Variant:
    return rendered[request.param]
