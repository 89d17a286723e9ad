"""The latency breakdown's parsing of variants and of Prometheus histogram deltas."""

from __future__ import annotations

import pytest

from loadtest.breakdown import _settings, bucket_mean, bucket_quantile


def test_a_variant_is_settings_and_the_direct_marker() -> None:
    assert _settings("GOVSHARE_AUDIT_LINGER_MS=0, direct") == {"GOVSHARE_AUDIT_LINGER_MS": "0", "direct": "1"}
    assert _settings("A=b=c") == {"A": "b=c"}


def test_a_variant_that_is_neither_is_refused_with_what_to_write() -> None:
    with pytest.raises(SystemExit, match="neither NAME=VALUE nor 'direct'"):
        _settings("straight")


def test_quantiles_and_means_are_of_the_window_not_of_the_process_lifetime() -> None:
    before = {0.001: 100.0, 0.005: 100.0, float("inf"): 100.0}
    after = {0.001: 110.0, 0.005: 200.0, float("inf"): 200.0}  # 10 fast, then 90 slow, in the window
    assert bucket_quantile(before, after, 5) == "≤1"
    assert bucket_quantile(before, after, 50) == "≤5"
    assert bucket_quantile(before, before, 50) == "-"
    assert bucket_mean(before, after, (1.0, 1.3)) == pytest.approx(0.003)
