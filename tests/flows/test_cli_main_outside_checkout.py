"""`lakehouse main` works from any working directory. The shipped staffing-data workflow names its
data relative to the project (`examples/data/occupations.tsv`); read against the working directory,
`lakehouse main` run outside the checkout failed at its first node: `IngestError:
/tmp/examples/data/occupations.tsv: no such file`."""

from __future__ import annotations

from pathlib import Path

from flows.cli.main_job import MAIN_WORKFLOWS, main_inputs
from flows.loader import SHIPPED_WORKFLOWS, load_workflow


def test_the_shipped_data_is_named_by_its_absolute_path_from_another_directory(lh_home, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    data = main_inputs(load_workflow("staffing-data"), None)
    assert data == {
        "onet_path": str(SHIPPED_WORKFLOWS.parent / "examples/data/occupations.tsv"),
        "wages_path": str(SHIPPED_WORKFLOWS.parent / "examples/data/oews_2025_state_occupation_wages.csv"),
    }
    assert all(Path(path).is_file() for path in data.values())
    assert main_inputs(load_workflow(MAIN_WORKFLOWS[1]), "forklift operator") == {"request": "forklift operator"}


def test_a_user_workflow_of_that_name_keeps_its_own_paths(lh_home, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (lh_home / "workflows").mkdir(parents=True)
    own = (SHIPPED_WORKFLOWS / "staffing-data.yaml").read_text()
    (lh_home / "workflows" / "staffing-data.yaml").write_text(own)
    assert main_inputs(load_workflow("staffing-data"), None) == {}
