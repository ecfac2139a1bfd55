"""`playbook record --score nan` through a running API said "request body is not valid JSON: NaN is
not a JSON number": the user typed a flag, not a body. The CLI names the flag first."""

from __future__ import annotations

import pytest

from tests.fixtures.cli import invoke_cli


@pytest.mark.parametrize("score", ["nan", "inf", "-inf"])
def test_a_score_that_is_no_finite_number_names_the_flag(lh_home, score):
    args = ["playbook", "record", "--query", "nurse", "--answer", "a", "--corpus", "c", "--score", score]
    err = " ".join(invoke_cli(*args, code=1).stderr.split())
    assert f"--score must be a number from -1 to 1, got {float(score)}" in err
