"""The authority's level follows its region code (services.authorization.bootstrap.region_level)."""

from __future__ import annotations

import pytest

from govshare.authorization.v1 import directory_pb2 as d
from services.authorization.bootstrap import region_level


@pytest.mark.parametrize(("region", "level"), [
    ("100000", d.ADMINISTRATIVE_LEVEL_NATIONAL), ("110000", d.ADMINISTRATIVE_LEVEL_PROVINCIAL),
    ("440000", d.ADMINISTRATIVE_LEVEL_PROVINCIAL), ("110100", d.ADMINISTRATIVE_LEVEL_MUNICIPAL),
    ("440300", d.ADMINISTRATIVE_LEVEL_MUNICIPAL), ("110105", d.ADMINISTRATIVE_LEVEL_COUNTY),
    ("440305", d.ADMINISTRATIVE_LEVEL_COUNTY)])
def test_region_level(region: str, level: int) -> None:
    assert region_level(region) == level
