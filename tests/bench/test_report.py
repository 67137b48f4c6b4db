"""Reading a Prometheus histogram and the goals table, on fixed inputs."""

from __future__ import annotations

from bench.servers import parse_histogram

EXPOSITION = """\
# HELP egressguard_admission_duration_seconds Time from request to answer.
# TYPE egressguard_admission_duration_seconds histogram
egressguard_admission_duration_seconds_bucket{le="0.001",webhook="mutate"} 50.0
egressguard_admission_duration_seconds_bucket{le="0.0025",webhook="mutate"} 99.0
egressguard_admission_duration_seconds_bucket{le="0.005",webhook="mutate"} 100.0
egressguard_admission_duration_seconds_bucket{le="+Inf",webhook="mutate"} 100.0
egressguard_admission_duration_seconds_bucket{le="0.001",webhook="validate"} 7.0
egressguard_admission_duration_seconds_bucket{le="+Inf",webhook="validate"} 7.0
"""


def test_quantiles_interpolate_within_the_bucket_like_promql() -> None:
    histogram = parse_histogram(EXPOSITION, "egressguard_admission_duration_seconds",
                                {"webhook": "mutate"})
    assert histogram.count == 100
    assert histogram.quantile(0.5) == 1.0
    assert histogram.quantile(0.99) == 2.5
    assert histogram.quantile(0.75) == 1.765  # rank 75: 25 of the 49 in (1, 2.5] ms
    assert histogram.share_within(0.0025) == 0.99


def test_a_difference_of_two_scrapes_counts_only_what_happened_between() -> None:
    before = parse_histogram(EXPOSITION, "egressguard_admission_duration_seconds",
                             {"webhook": "mutate"})
    after = parse_histogram(EXPOSITION.replace("} 100.0", "} 110.0"),
                            "egressguard_admission_duration_seconds", {"webhook": "mutate"})
    during = after.minus(before)
    assert during.count == 10
    assert during.quantile(0.5) == 3.75  # all ten fell between 2.5 and 5 ms
