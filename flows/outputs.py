"""The durable record of workflow runs in the object store, which `workflow resume` reads.

    _runs/outputs/<sha[:2]>/<sha256>.json   node outputs, content-addressed: the sha256 of their
                                             canonical JSON, the same digest as the op's output_sha256
    _runs/<run_id>/manifest.json            the workflow text, inputs and node definitions of a run,
                                             written before any node runs
    _runs/<run_id>/nodes/<node_id>.json     one record per finished node (completed, failed, skipped)
    _runs/<run_id>/resumed_by.json          the run that resumed it (created once: a run is resumed
                                             once; its resume is resumed after that)
    _runs/submissions/<id>.json             a run submitted over HTTP without waiting, by the id the
                                             submission answered: its state and flow-run id

Order of writes, so a run killed at any moment (SIGKILL) leaves a resumable record: the output
first, then the node's ObservedOp (in the op log), then the node record. Every put is atomic.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from flows.errors import RunRecordNotFound
from lakehouse.data.errors import ObjectExists, ObjectNotFound
from lakehouse.observe.observer import canonical_json, now_utc

PREFIX = "_runs"


def output_digest(value: Any) -> tuple[str, bytes]:
    text = canonical_json(value)
    data = text.encode("utf-8", "surrogatepass")
    return hashlib.sha256(data).hexdigest(), data


class RunManifest(BaseModel):
    run_id: str
    workflow: str
    source: str
    text: str = Field(description="the workflow file's text as run")
    inputs: dict[str, Any] = Field(default_factory=dict)
    trusted_paths: bool = False
    parent_run_id: str | None = None
    started_at: datetime = Field(default_factory=now_utc)
    node_definitions: dict[str, str] = Field(default_factory=dict, description="node id -> sha256 of its spec")


class NodeRecord(BaseModel):
    node_id: str
    status: Literal["completed", "failed", "skipped"]
    output_sha256: str | None = None
    error: str | None = None
    attempts: int = 0
    definition_sha256: str | None = None
    reused_from: str | None = Field(default=None, description="the run whose output was reused (resume)")
    finished_at: datetime = Field(default_factory=now_utc)


def node_definitions(loaded) -> dict[str, str]:
    """sha256 of each node's definition (its spec, its resolved mode input before references, the
    workflow's default model, and a sub-workflow's own text and definitions: a changed child is a
    changed node): what `resume --allow-changed` compares."""
    out = {}
    for node_id, node in loaded.nodes.items():
        spec = node.model_dump(mode="json", by_alias=True, exclude_defaults=True)
        payload = loaded.payload(node_id) if node.mode_name else None
        parts = [spec, payload, loaded.spec.model, loaded.spec.provider]
        child = loaded.subworkflows.get(node.workflow) if node.workflow else None
        if child is not None:
            parts.append([child.text, node_definitions(child)])
        text = json.dumps(parts, sort_keys=True, default=str)
        out[node_id] = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()
    return out


class RunStore:
    """Run manifests, node records and content-addressed outputs in one object store."""

    def __init__(self, store) -> None:
        self.store = store

    @staticmethod
    def output_key(sha: str) -> str:
        return f"{PREFIX}/outputs/{sha[:2]}/{sha}.json"

    def put_output(self, value: Any) -> str:
        """Store an output once (content-addressed); returns its sha256."""
        sha, data = output_digest(value)
        # Written again when it exists: the history's trim removes outputs that no kept run names once
        # they are old, and an old output this run is about to name must look new until it does.
        self.store.put(self.output_key(sha), data)
        return sha

    def has_output(self, sha: str) -> bool:
        return self.store.exists(self.output_key(sha))

    def get_output(self, sha: str) -> Any:
        key = self.output_key(sha)
        if not self.store.exists(key):
            raise RunRecordNotFound(f"no stored output {sha[:12]}… ({key})")
        return json.loads(self.store.get(key))

    def write_manifest(self, manifest: RunManifest) -> None:
        self.store.put(f"{PREFIX}/{manifest.run_id}/manifest.json", manifest.model_dump_json().encode())

    @staticmethod
    def _resumed_key(parent_run_id: str) -> str:
        return f"{PREFIX}/{parent_run_id}/resumed_by.json"

    def claim_resume(self, parent_run_id: str, run_id: str) -> str | None:
        """Record that `run_id` resumes `parent_run_id` (one atomic create); when another run did
        first, nothing is recorded and that run's id is returned."""
        record = json.dumps({"run_id": run_id, "at": now_utc().isoformat()}).encode()
        try:
            self.store.create(self._resumed_key(parent_run_id), record)
        except ObjectExists:
            return self.resumed_by(parent_run_id) or "another run"
        return None

    def resumed_by(self, parent_run_id: str) -> str | None:
        """The run that resumed `parent_run_id`, if one did."""
        key = self._resumed_key(parent_run_id)
        if not self.store.exists(key):
            return None
        return str(json.loads(self.store.get(key)).get("run_id") or "another run")

    def read_manifest(self, run_id: str) -> RunManifest:
        key = f"{PREFIX}/{run_id}/manifest.json"
        if not self.store.exists(key):
            raise RunRecordNotFound(
                f"no record of run {run_id!r}: it was not started by this lakehouse (LH_HOME) or its "
                f"records were removed (`lakehouse gc` drops those of runs older than history_kept_days, 90 by "
                f"default; see `lakehouse ops list` for run ids)"
            )
        return RunManifest.model_validate_json(self.store.get(key))

    @staticmethod
    def submission_key(submission_id: str) -> str:
        return f"{PREFIX}/submissions/{submission_id}.json"

    def write_submission(self, record: dict[str, Any]) -> None:
        self.store.put(self.submission_key(record["run_id"]), json.dumps(record).encode())

    def read_submission(self, submission_id: str) -> dict[str, Any] | None:
        """The record of a submission (`submission_id` already checked to be one's form), or None."""
        try:
            record = json.loads(self.store.get(self.submission_key(submission_id)))
        except (ObjectNotFound, ValueError):  # puts are atomic: a damaged record is someone's edit
            return None
        return record if isinstance(record, dict) else None

    def write_node(self, run_id: str, record: NodeRecord) -> None:
        self.store.put(f"{PREFIX}/{run_id}/nodes/{record.node_id}.json", record.model_dump_json().encode())

    def read_nodes(self, run_id: str) -> dict[str, NodeRecord]:
        records = {}
        for key in self.store.list(f"{PREFIX}/{run_id}/nodes/"):
            try:
                record = NodeRecord.model_validate_json(self.store.get(key))
            except ValueError:
                continue  # an unreadable record: that node simply runs again
            records[record.node_id] = record
        return records
