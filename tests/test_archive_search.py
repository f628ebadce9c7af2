import pytest

from rag.archive.search import rrf
from rag.text.dates import parse_date


def test_rrf_rewards_agreement_between_rankings():
    scores = rrf([[1, 2, 3], [3, 4, 1]], k=60)
    assert scores[1] == pytest.approx(1 / 61 + 1 / 63)
    assert scores[3] == pytest.approx(1 / 63 + 1 / 61)
    assert scores[2] == pytest.approx(1 / 62)
    assert max(scores, key=scores.get) in (1, 3)
    assert scores[4] < scores[1]


def test_parse_date_expands_years_and_months():
    assert parse_date("2024") == "2024-01-01"
    assert parse_date("2024", end=True) == "2024-12-31"
    assert parse_date("2024-02", end=True) == "2024-02-29"
    assert parse_date("2024-12", end=True) == "2024-12-31"
    assert parse_date("2024/3/5") == "2024-03-05"
    assert parse_date(None) is None
    with pytest.raises(ValueError, match="YYYY"):
        parse_date("last week")
    with pytest.raises(ValueError, match="does not exist"):
        parse_date("2023-02-30")
