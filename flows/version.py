"""The installed lakehouse's version: `lakehouse --version`, the API's OpenAPI document, and `api.json`
(a CLI goes through a running API of its own version only). A leaf: the CLI reads it before any
heavy import."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version


def installed_version() -> str:
    """The version pip installed; "0" for a checkout run without installing it."""
    try:
        return version("lakehouse")
    except PackageNotFoundError:
        return "0"
