"""Undeclared status codes: fixed probes per operation vs the OpenAPI document (run from a tree's root)."""

import json
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, os.getcwd())
from fastapi.testclient import TestClient

from flows.http import create_app
from lakehouse.config import Settings

app = create_app(Settings(home=Path(tempfile.mkdtemp()), api_max_body_bytes=4096))
c = TestClient(app, raise_server_exceptions=False)
doc = c.get("/openapi.json").json()
seen: dict[tuple[str, str], set[int]] = {}


def hit(method, path, url, **kw):
    r = c.request(method, url, **kw)
    seen.setdefault((method, path), set()).add(r.status_code)


for path, ops in doc["paths"].items():
    for method in ops:
        m = method.upper()
        url = path.replace("{run_id}", "nope").replace("{name}", "nope.mode")
        if m == "GET":
            hit(m, path, url)
            hit(m, path, url, params={"limit": "x"})
            continue
        hit(m, path, url, content=b"{", headers={"content-type": "application/json"})  # 400 malformed
        hit(m, path, url, content=b"{}", headers={"content-type": "text/plain"})  # 415
        hit(m, path, url, content=b'{"a":"' + b"x" * 5000 + b'"}', headers={"content-type": "application/json"})  # 413
        hit(m, path, url, json={"zzz": 1})  # 422
        hit(
            m,
            path,
            url,
            json={"id": "nope", "query": "q", "corpora": ["nope"], "workflow": "nope", "text": "t", "sql": "SELEC"},
        )  # 404/400
undeclared = sorted(
    (m, p, s) for (m, p), codes in seen.items() for s in codes if str(s) not in doc["paths"][p][m.lower()]["responses"]
)
print(
    json.dumps(
        {
            "operations": len(seen),
            "undeclared": len(undeclared),
            "by_code": {str(k): sum(1 for u in undeclared if u[2] == k) for k in sorted({u[2] for u in undeclared})},
        }
    )
)
for u in undeclared:
    print(*u)
