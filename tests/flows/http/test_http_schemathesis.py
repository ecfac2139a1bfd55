"""Property-based conformance of the whole HTTP API to its own OpenAPI document (schemathesis).

Every operation in `/openapi.json` is called in-process through the ASGI app (fresh LH_HOME) with
positive and negative examples from every generation phase, and every response goes through all
of schemathesis' checks: no 5xx, status codes and bodies as declared, content types, negative data
rejected, positive data accepted, ... Bounded and derandomized, so the run is the same each time.
"""

from __future__ import annotations

import atexit
import json
import os
import shutil
import tempfile
from collections import Counter
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, settings
from schemathesis.config import SchemathesisConfig

import flows  # noqa: F401  (Prefect environment first)
from flows.http import create_app
from lakehouse.config import Settings

MAX_EXAMPLES = 20
# under pytest-xdist schemathesis makes one test of all operations: this module runs without it
pytestmark = pytest.mark.serial

TOKEN = "schemathesis-token-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
# Made at import, as the app below is; removed when the process ends.
_HOME = Path(tempfile.mkdtemp(prefix="lakehouse-schemathesis-"))
atexit.register(shutil.rmtree, _HOME, ignore_errors=True)
# With a token, so the declared bearer scheme is checked too (`ignored_auth` sends requests without it).
APP = create_app(Settings(home=_HOME / "home", api_token=TOKEN))
CONFIG = SchemathesisConfig.from_dict(
    {
        "checks": {
            # 400 is this API's answer to a schema-valid body that a mode's own rules refuse (SQL that does
            # not parse, an empty corpus name, no model configured for chat): a client error, not a bug.
            "positive_data_acceptance": {"expected-statuses": ["2xx", "400", "401", "403", "404", "409", "429"]},
            # A text over its maxLength inside a large body may be refused by size first (413): still refused.
            "negative_data_rejection": {
                "expected-statuses": [
                    "400",
                    "401",
                    "403",
                    "404",
                    "405",
                    "406",
                    "409",
                    "413",
                    "415",
                    "422",
                    "428",
                    "429",
                ]
            },
        },
        "operations": [
            {
                # Rules beyond what JSON Schema can say, answered 422 by design: a workflow's own checks
                # (`workflow_invalid`: YAML, nodes, references), an event whose ts_end is before ts_start
                # or a day ahead, a judgement (rating, playbook) dated more than a day ahead, and a
                # search query of nothing but blanks (spaces, zero-width or control characters, which
                # a JSON Schema `minLength` counts as text).
                "include-path": [
                    "/v1/observer/workflow/run",
                    "/v1/observer/workflow/validate",
                    "/v1/observer/event",
                    "/v1/matrix/feedback",
                    "/v1/matrix/playbooks",
                    "/v1/matrix/search",
                ],
                "checks": {
                    "positive_data_acceptance": {
                        "expected-statuses": ["2xx", "400", "401", "403", "404", "409", "422", "429"]
                    }
                },
            },
            {
                # Approvals are answered by the Prefect server that holds the paused run; this app has one
                # only when the session's test server is up: else 503 `prefect_unavailable`, by design.
                "include-path": ["/v1/observer/runs/{run_id}/approve", "/v1/observer/approvals"],
                "checks": {
                    "not_a_server_error": {"expected-statuses": ["2xx", "3xx", "4xx", "503"]},
                    "positive_data_acceptance": {
                        "expected-statuses": ["2xx", "400", "401", "403", "404", "409", "429", "503"]
                    },
                },
            },
        ],
    }
)
schema = schemathesis.openapi.from_asgi("/openapi.json", APP, headers=AUTH, config=CONFIG)

CALLS: Counter[str] = Counter()
STATUSES: Counter[tuple[str, int]] = Counter()


@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    phases=[Phase.explicit, Phase.generate],
)
def test_api_conforms_to_its_openapi(case):
    operation = f"{case.method} {case.path}"
    CALLS[operation] += 1
    response = case.call_and_validate(headers=AUTH)
    STATUSES[(operation, response.status_code)] += 1


def test_every_operation_was_exercised():
    """The parametrized test above covered every operation of the document (run in the same session)."""
    if not CALLS:
        pytest.skip("run together with test_api_conforms_to_its_openapi")
    operations = {f"{op.ok().method.upper()} {op.ok().path}" for op in schema.get_all_operations()}
    assert operations <= set(CALLS), sorted(operations - set(CALLS))
    report = os.environ.get("SCHEMATHESIS_REPORT_FILE")  # figures for BENCHMARKS / RELIABILITY
    if report:
        Path(report).write_text(
            json.dumps(
                {
                    "operations": len(operations),
                    "calls": sum(CALLS.values()),
                    "per_operation": dict(CALLS),
                    "statuses": {f"{op} {code}": n for (op, code), n in sorted(STATUSES.items())},
                },
                indent=1,
            )
        )
