"""Console page /ui/system: the live ops tail, ops stats, and the lift / drift / adapt reports.

The tail polls the newest ops every 2 s; the fragment names the newest op it shows (`seen`), so the
next answer marks the rows that arrived since (highlighted briefly). Reports are the files the jobs
write under LH_HOME (`lift/<run>/*-report.md` + `*-chart.png`, `drift/nightly-*.json`,
`adapt/weekly-*.md` + `.png`); Markdown is rendered with raw HTML escaped, and a chart is served
only from inside those folders (no `..`, no absolute path, no link out).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, HTMLResponse, Response
from markupsafe import Markup

from flows.http.calls import lakehouse_of
from flows.http.ui import render
from lakehouse.common.errors import PathNotAllowed

router = APIRouter()
TAIL = 50
REPORT_DIRS = ("lift", "drift", "adapt")
LIST_REPORTS = 20


@router.get("/ui/system")
def page(request: Request) -> HTMLResponse:
    try:
        report, report_error = _report(request, ""), None
    except REPORT_ERRORS as exc:  # the newest report unreadable (cut short, not a report): said in its place
        report, report_error = None, str(exc)
    return render(
        request,
        "system.html",
        active="system",
        title="System",
        tail=TAIL,
        **_tail(request, ""),
        stats=lakehouse_of(request).observer.stats(),
        reports=list_reports(request),
        report=report,
        report_error=report_error,
    )


def _tail(request: Request, seen: str) -> dict[str, Any]:
    rows = lakehouse_of(request).observer.ops(limit=TAIL)
    ids = [r.get("op_id") for r in rows]
    # new since the last poll: after the op the page showed newest (all, if it scrolled out of the tail)
    fresh = set(ids[ids.index(seen) + 1 :] if seen in ids else ids) if seen else set()
    newest = list(reversed(rows))
    return {"ops": newest, "fresh": fresh, "seen": newest[0].get("op_id") if newest else ""}


@router.get("/ui/system/ops")
def ops(request: Request, seen: str = "") -> HTMLResponse:
    return render(request, "system_ops.html", **_tail(request, seen))


@router.get("/ui/system/stats")
def stats(request: Request) -> HTMLResponse:
    return render(request, "system_stats.html", stats=lakehouse_of(request).observer.stats())


# ----------------------------------------------------------------------------------------- reports
def _home(request: Request) -> Path:
    return Path(os.path.realpath(lakehouse_of(request).settings.home_dir))


def list_reports(request: Request) -> list[dict[str, Any]]:
    """The newest reports of each kind, newest first: (kind, path relative to LH_HOME, time)."""
    home = _home(request)
    found: list[tuple[float, str, str]] = []
    patterns = {"lift": "*/*-report.md", "drift": "nightly-*.json", "adapt": "weekly-*.md"}
    for kind, pattern in patterns.items():
        for path in (home / kind).glob(pattern):
            try:
                found.append((path.stat().st_mtime, kind, path.relative_to(home).as_posix()))
            except OSError:
                continue
    found.sort(reverse=True)
    return [{"kind": k, "path": p, "mtime": m} for m, k, p in found[:LIST_REPORTS]]


def report_file(request: Request, given: str, suffixes: tuple[str, ...]) -> Path:
    """`given` (relative to LH_HOME) as a file inside a report folder, or PathNotAllowed saying why."""
    home = _home(request)
    roots = [home / d for d in REPORT_DIRS]
    if not given or "\x00" in given:
        raise PathNotAllowed("path", given, "is empty; name a report file under lift/, drift/ or adapt/", roots)
    if Path(given).is_absolute() or given.startswith(("/", "\\")):
        raise PathNotAllowed("path", given, "is absolute; give a path relative to LH_HOME's report folders", roots)
    if ".." in Path(given).parts or ".." in given.split("\\"):
        raise PathNotAllowed("path", given, "contains '..'; name the report file inside its folder", roots)
    resolved = Path(os.path.realpath(home / given))
    if not any(resolved.is_relative_to(os.path.realpath(root)) for root in roots):
        raise PathNotAllowed("path", given, "is outside the report folders (lift/, drift/, adapt/)", roots)
    if resolved.suffix.lower() not in suffixes:
        raise PathNotAllowed("path", given, f"is not a {' or '.join(suffixes)} file", roots)
    if not resolved.is_file():
        raise PathNotAllowed("path", given, "does not exist", roots)
    return resolved


def _markdown(text: str, folder: str) -> Markup:
    """CommonMark + tables with raw HTML escaped; a relative image points at the chart route."""
    from urllib.parse import quote

    from markdown_it import MarkdownIt

    md = MarkdownIt("commonmark", {"html": False}).enable("table")
    default_image = md.renderer.rules["image"]  # type: ignore[attr-defined]

    def image(renderer, tokens, idx, options, env):  # type: ignore[no-untyped-def]  # bound as a method
        src = tokens[idx].attrGet("src") or ""
        if src and "://" not in src and not src.startswith("/"):
            tokens[idx].attrSet("src", "/ui/system/reports/chart?path=" + quote(f"{folder}/{src}"))
        return default_image(tokens, idx, options, env)

    md.add_render_rule("image", image)
    return Markup(md.render(text))  # noqa: S704 - markdown-it escapes the text; raw HTML is off


# a path refused, a file that is not JSON or not a drift report (ValueError), or unreadable
REPORT_ERRORS = (PathNotAllowed, ValueError, OSError)


def _report(request: Request, path: str) -> dict[str, Any] | None:
    """One report rendered: the given one, else the newest; None when there is none."""
    if not path:
        newest = list_reports(request)
        if not newest:
            return None
        path = newest[0]["path"]
    file = report_file(request, path, (".md", ".json"))
    folder = Path(path).parent.as_posix()
    chart = None
    if file.suffix == ".json":  # a nightly drift report: its Markdown as the job's artifact shows it
        from flows.jobs import drift_markdown
        from modes.catalog.drift_nightly import NightlyReport

        text = drift_markdown(NightlyReport.model_validate(json.loads(file.read_text())), file)
    else:
        text = file.read_text(errors="replace")
        png = file.with_suffix(".png") if file.parent.name == "adapt" else None
        if png is not None and png.is_file():  # the adapt report names its chart without linking it
            chart = f"{folder}/{png.name}"
    return {"path": path, "html": _markdown(text, folder), "chart": chart}


@router.get("/ui/system/reports/view")
def report_view(request: Request, path: str = "") -> HTMLResponse:
    try:
        report = _report(request, path)
    except REPORT_ERRORS as exc:
        return render(request, "system_report.html", report=None, error=str(exc))
    return render(request, "system_report.html", report=report, error=None)


@router.get("/ui/system/reports/chart")
def report_chart(request: Request, path: str = "") -> Response:
    try:
        file = report_file(request, path, (".png",))
    except PathNotAllowed as exc:
        return Response(str(exc), status_code=404 if exc.reason == "does not exist" else 403, media_type="text/plain")
    return FileResponse(file, media_type="image/png")
