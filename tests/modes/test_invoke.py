"""invoke_mode: one ObservedOp per call, with secrets scrubbed from errors."""

from __future__ import annotations

import pytest

from modes import ModeContext
from modes.invoke import invoke_mode


def test_completed_call_is_recorded_with_its_source(lakehouse):
    ctx = ModeContext(lakehouse=lakehouse, source="http")
    assert invoke_mode("fixture.upper", {"text": "abc"}, ctx) == {"text": "ABC"}
    (op,) = lakehouse.observer.ops()
    assert (op["source"], op["mode"], op["status"], op["output"]) == (
        "http",
        "fixture.upper",
        "completed",
        {"text": "ABC"},
    )


def test_failed_call_is_recorded_without_secrets(lakehouse, monkeypatch):
    monkeypatch.setenv("PROVIDER_API_KEY", "sk-very-secret-123")
    ctx = ModeContext(lakehouse=lakehouse)
    with pytest.raises(RuntimeError, match="sk-very-secret-123"):  # the caller's own exception is untouched
        invoke_mode("fixture.fail", {"message": "auth failed for key sk-very-secret-123"}, ctx)
    (op,) = lakehouse.observer.ops()
    assert op["status"] == "failed"
    assert op["error"] == "FixtureFailure: auth failed for key ***"
    assert op["input"] == {"message": "auth failed for key ***"}
    assert "sk-very-secret-123" not in lakehouse.observer.path.read_text()


def test_bad_input_is_recorded_as_a_failed_op(lakehouse):
    with pytest.raises(Exception, match="Extra inputs are not permitted"):
        invoke_mode("fixture.upper", {"text": "a", "txt": "b"}, ModeContext(lakehouse=lakehouse))
    (op,) = lakehouse.observer.ops()
    assert op["status"] == "failed" and "txt" in op["error"]
