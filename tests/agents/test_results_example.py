"""The results example of the OpenAPI document is real: the statistics give it."""

from __future__ import annotations


def test_the_openapi_results_example_is_what_the_statistics_give() -> None:
    from agents.campaigns.stats import ArmCounts, analyse
    from agents.openapi import RESULTS_EXAMPLE

    counts = [
        ArmCounts("holdout", 0.1, 1210, {"event checkout": 97}),
        ArmCounts("a", 0.45, 5410, {"event checkout": 502}),
        ArmCounts("b", 0.45, 5380, {"event checkout": 611}),
    ]
    fresh = analyse(counts, control="holdout", primary="event checkout").as_dict()
    assert {k: RESULTS_EXAMPLE[k] for k in fresh} == fresh
