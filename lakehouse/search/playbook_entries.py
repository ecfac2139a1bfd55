"""What a playbook holds: an entry as it is given (`PlaybookInput`, its id rule and the time it was
judged), as it is stored (`Playbook`, with its query's vector) and as a lookup finds it
(`PlaybookMatch`); and when two entries under one id are the same judgement. A leaf of the store
(`playbooks.py`), so the ratings and the log's readers share these without the store."""

from __future__ import annotations

import base64
import hashlib
import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator

from lakehouse.common.text import not_blank
from lakehouse.search.errors import PlaybookError

ENTRY_ID = r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$"


class PlaybookInput(BaseModel):
    """One entry to record; `ts` (ISO 8601) back-dates it, e.g. when importing history; `id` makes
    recording it idempotent (an id already in the log is reported as a duplicate)."""

    model_config = ConfigDict(extra="forbid")
    id: str | None = Field(default=None, pattern=ENTRY_ID)
    query: str = Field(min_length=1)
    answer: str = Field(min_length=1)
    corpus: str = Field(min_length=1)
    score: float = Field(ge=-1.0, le=1.0, allow_inf_nan=False)
    ts: datetime | None = None

    @field_validator("query")
    @classmethod
    def _query_not_blank(cls, value: str) -> str:
        return not_blank(value)

    @field_validator("answer", mode="before")
    @classmethod
    def _id_as_text(cls, value: Any) -> Any:
        return str(value) if isinstance(value, int) and not isinstance(value, bool) else value

    @field_validator("ts")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        return None if value is None else judged_at(value)


def judged_at(value: datetime) -> datetime:
    """When a judgement was made (UTC when no zone is given); ValueError when it is more than a day
    ahead (clocks differ that much at most): a judgement from the future would keep its full
    weight for years, since weights decay with age."""
    aware = value.replace(tzinfo=UTC) if value.tzinfo is None else value
    try:
        aware.astimezone(UTC)  # ids and decay are computed in UTC
    except OverflowError:
        raise PlaybookError(f"{value.isoformat()} falls outside the years 1-9999 in UTC") from None
    if aware > datetime.now(UTC) + timedelta(days=1):
        raise PlaybookError(f"{aware.isoformat()} is in the future: give the time the judgement was made")
    return aware


def content_id(item: PlaybookInput) -> str:
    """The id of an entry that came without one, in an idempotent batch: a hash of what defines it."""
    ts = item.ts.astimezone(UTC).isoformat() if item.ts is not None else None
    key = json.dumps([item.query, item.answer, item.corpus, float(item.score), ts], ensure_ascii=False)
    return "pb-" + hashlib.sha256(key.encode()).hexdigest()[:24]


def conflict(entry_id: str, item: PlaybookInput, have: PlaybookInput | Playbook) -> str | None:
    """None when `item` records the judgement `have` already holds under `entry_id` (a re-sent
    entry: its time may differ), else why the id cannot take it."""
    pairs = {
        "query": (item.query, have.query),
        "answer": (item.answer, have.answer),
        "corpus": (item.corpus, have.corpus),
        "score": (float(item.score), float(have.score)),
    }
    differ = [name for name, (new, old) in pairs.items() if new != old]
    if not differ:
        return None
    held = f"query {_short(have.query)}, answer {have.answer!r}, corpus {have.corpus!r}, score {float(have.score):g}"
    return (
        f"id {entry_id!r} already names another judgement ({held}); this entry differs in its "
        f"{', '.join(differ)}: give it an id of its own (nothing stored)"
    )


def _short(text: str, limit: int = 60) -> str:
    return repr(text if len(text) <= limit else text[: limit - 1] + "…")


def given_id(raw: Any) -> str | None:
    """The id a raw entry gave, when it is a valid one: a failed row still says which entry it was."""
    value = raw.get("id") if isinstance(raw, dict) else getattr(raw, "id", None)
    return value if isinstance(value, str) and re.fullmatch(ENTRY_ID, value) else None


@dataclass
class Playbook:
    id: str
    ts: datetime
    query: str
    answer: str
    corpus: str
    score: float
    model: str
    vector: np.ndarray = field(repr=False)

    def record(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "ts": self.ts.isoformat(),
            "query": self.query,
            "answer": self.answer,
            "corpus": self.corpus,
            "score": self.score,
            "model": self.model,
            "vector": base64.b64encode(np.asarray(self.vector, dtype="<f4").tobytes()).decode(),
        }

    def public(self) -> dict[str, Any]:
        data = self.record()
        data.pop("vector")
        return data


@dataclass
class PlaybookMatch:
    playbook: Playbook
    similarity: float
    weight: float  # score * decay * closeness (what `playbook lookup` shows)
    decay: float = 1.0
