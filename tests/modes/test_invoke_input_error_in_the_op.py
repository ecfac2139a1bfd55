"""A mode call whose input fails the mode's model is recorded with the one formatter's line as its
error. The op held pydantic's own text: `1 validation error for SleepIn\\nseconds\\n  Input should be
less than or equal to 3600 [type=less_than_equal, …]\\n    For further information visit https://…`."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from modes.context import ModeContext
from modes.invoke import invoke_mode


def test_the_op_of_a_refused_input_names_the_field_in_one_line(lakehouse):
    with pytest.raises(ValidationError):
        invoke_mode("fixture.sleep", {"seconds": 99999}, ModeContext(lakehouse=lakehouse))
    op = lakehouse.observer.ops(limit=1)[0]
    assert (op["mode"], op["status"]) == ("fixture.sleep", "failed")
    assert op["error"] == "ValidationError: field 'seconds': Input should be less than or equal to 3600"
