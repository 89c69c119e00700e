"""The benchmark hostile-input cases (`hostile_benchmark_cases.BENCHMARK_CASES`), run through
`hostile.check_case` until the hostile-input table imports them."""

from __future__ import annotations

import pytest
from hostile import check_case
from hostile_benchmark_cases import BENCHMARK_CASES


@pytest.mark.parametrize("case", BENCHMARK_CASES, ids=[c.id for c in BENCHMARK_CASES])
def test_bad_benchmark_input_exits_2_with_a_located_message(case, tmp_path):
    check_case(case, tmp_path)


def test_the_case_ids_are_unique():
    assert len({c.id for c in BENCHMARK_CASES}) == len(BENCHMARK_CASES) >= 12
