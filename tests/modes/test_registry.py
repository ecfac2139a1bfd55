from __future__ import annotations

import sys
import textwrap

import pytest
from pydantic import BaseModel

from modes import (
    ModeContext,
    ModeDefinitionError,
    UnknownModeError,
    all_modes,
    get_mode,
    mode,
)
from modes.registry import _REGISTRY


class In(BaseModel):
    x: int


class Out(BaseModel):
    y: int


@pytest.fixture(autouse=True)
def _forget_test_modes():
    all_modes()  # the built-in catalog first, so only this test's modes are forgotten
    before = set(_REGISTRY)
    yield
    for name in set(_REGISTRY) - before:
        del _REGISTRY[name]


def test_registers_with_models_from_hints():
    @mode("test.double")
    def double(inp: In, ctx: ModeContext) -> Out:
        """Double x."""
        return Out(y=inp.x * 2)

    spec = get_mode("test.double")
    assert (spec.input_model, spec.output_model, spec.description) == (In, Out, "Double x.")
    assert spec({"x": 4}, ModeContext.standalone()).y == 8


def test_missing_hints_fail_at_definition_naming_the_function():
    with pytest.raises(ModeDefinitionError, match=r"test_registry.*no_hints: annotate the first parameter"):

        @mode("test.no_hints")
        def no_hints(inp, ctx) -> Out:
            return Out(y=1)


def test_missing_return_hint():
    with pytest.raises(ModeDefinitionError, match="annotate the return type"):

        @mode("test.no_return")
        def no_return(inp: In, ctx: ModeContext):
            return Out(y=1)


def test_wrong_arity():
    with pytest.raises(ModeDefinitionError, match="takes 1 parameter"):

        @mode("test.arity")
        def arity(inp: In) -> Out:
            return Out(y=1)


def test_duplicate_name_names_both_functions():
    with pytest.raises(
        ModeDefinitionError, match=r"'fixture.echo' is already registered by modes.catalog.fixture.echo"
    ):

        @mode("fixture.echo")
        def impostor(inp: In, ctx: ModeContext) -> Out:
            return Out(y=1)


@pytest.mark.parametrize("name", ["Bad", "a..b", "a b", "1x", ""])
def test_bad_names(name):
    with pytest.raises(ModeDefinitionError, match="must be dotted lower-case"):
        mode(name)(lambda inp, ctx: None)


def test_unknown_mode_suggests():
    with pytest.raises(UnknownModeError, match="did you mean 'fixture.upper'"):
        get_mode("fixture.uper")


def test_fixture_modes_do_what_they_say():
    ctx = ModeContext.standalone()
    assert get_mode("fixture.echo")({"value": [1, "a"]}, ctx).value == [1, "a"]
    assert get_mode("fixture.upper")({"text": "abc"}, ctx).text == "ABC"
    assert get_mode("fixture.sleep")({"seconds": 0.01}, ctx).slept >= 0.01
    with pytest.raises(RuntimeError, match="boom"):
        get_mode("fixture.fail")({"message": "boom"}, ctx)
    with pytest.raises(Exception, match="Extra inputs are not permitted"):
        get_mode("fixture.upper")({"text": "a", "txt": "b"}, ctx)


def test_entry_point_plugins_are_loaded(tmp_path, monkeypatch):
    import modes.registry as registry

    (tmp_path / "lh_plugin_demo.py").write_text(
        textwrap.dedent("""
        from pydantic import BaseModel
        from modes import mode, ModeContext
        class PIn(BaseModel):
            n: int
        class POut(BaseModel):
            n: int
        @mode("plugin.inc")
        def inc(inp: PIn, ctx: ModeContext) -> POut:
            return POut(n=inp.n + 1)
    """)
    )
    dist = tmp_path / "lh_plugin_demo-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: lh-plugin-demo\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[lakehouse.modes]\ninc = lh_plugin_demo\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(registry, "_loaded", False)
    try:
        assert "plugin.inc" in all_modes()
        assert get_mode("plugin.inc")({"n": 1}, ModeContext.standalone()).n == 2
    finally:
        sys.modules.pop("lh_plugin_demo", None)


def test_llm_chat_without_a_model_is_a_clear_error(lakehouse):
    with pytest.raises(Exception, match="no LLM model is configured"):
        get_mode("llm.chat")({"prompt": "hi"}, ModeContext(lakehouse=lakehouse))


def test_no_mode_schema_names_a_setting():
    """What HTTP and MCP callers read of a mode (its description, its input and output schemas)
    states defaults in words and numbers, never as a setting's name (issue 11.6)."""
    import json

    from lakehouse.config import Settings
    from modes.registry import all_modes

    setting_names = [name for name in Settings.model_fields if "_" in name]
    named = {}
    for name, spec in all_modes().items():
        schemas = [spec.input_model.model_json_schema(), spec.output_model.model_json_schema()]
        text = spec.description + json.dumps(schemas)
        if found := [setting for setting in setting_names if setting in text]:
            named[name] = found
    assert named == {}


def test_the_defaults_mode_schemas_state_are_the_settings_defaults():
    from lakehouse.config import Settings
    from lakehouse.learning.distill import LATEST_SCORER
    from modes.registry import get_mode

    fields = Settings.model_fields

    def described(mode: str, field: str) -> str:
        return get_mode(mode).input_model.model_fields[field].description or ""

    assert f"(default {fields['playbook_boost'].default})" in described("lift.run", "boost")
    assert f"(default {fields['playbook_min_similarity'].default})" in described("lift.run", "min_similarity")
    assert f"(default {fields['sql_row_cap'].default:,})" in described("sql.query", "row_cap")
    assert fields["table_gc_older_than_s"].default == 3600 and "(default 1h)" in described("tables.gc", "older_than")
    assert f"(default: {fields['drift_evidence'].default} under LH_HOME)" in described("drift.nightly", "evidence_path")
    assert fields["distill_scorer"].default == LATEST_SCORER
    assert described("drift.nightly", "new_scorer") == f"default: the current scorer, {LATEST_SCORER}"


def test_loading_the_mode_catalog_leaves_scipy_stats_to_the_drift_check_that_needs_it():
    """Every `lakehouse api` start and every workflow process loads the catalog: scipy.stats, imported
    at the top of the drift module, cost each of them 0.7-0.9 s of CPU for one function."""
    import subprocess

    code = "import sys; from modes.registry import load_modes; load_modes(); print('scipy.stats' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False", done.stderr
