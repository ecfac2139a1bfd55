"""Opening the Iceberg SQL catalog the setting `catalog_url` names: SQLite under LH_HOME by default,
PostgreSQL (`postgresql+psycopg://...`) when several machines share one catalog.

A URL that cannot work (unparsable, an unknown dialect, a driver that is not installed) and a
server that cannot be reached fail here with the setting's name, instead of deep inside a write
(where a refused connection looked like a lost commit race and was retried until TableConflict).
"""

from __future__ import annotations

from typing import Any

from lakehouse.config import Settings
from lakehouse.data.errors import CatalogBusy, CatalogSettingError, CatalogUnavailable

SETTING = "catalog_url (LH_CATALOG_URL)"
EXAMPLES = "sqlite:////path/to/catalog.db or postgresql+psycopg://user:password@host:5432/catalog"


STATEMENT_TIMEOUT_SETTING = "catalog_statement_timeout_s"
QUERY_CANCELED = "57014"  # PostgreSQL's SQLSTATE for a statement ended by statement_timeout
# Our own deadline on an open connection, as a multiple of the server's statement timeout: a server
# that answers ends a slow statement first and says why (CatalogBusy).
DEADLINE_FACTOR = 2


def open_catalog(name: str, settings: Settings) -> Any:
    """The catalog `settings` name, on the warehouse they name."""
    return open_sql_catalog(name, catalog_properties(settings), settings.catalog_statement_timeout_s or None)


def ensure_warehouse_bucket(settings: Settings) -> None:
    """Before a process's first table write: an S3 warehouse's bucket is made, or refused by name
    when machines share it through a catalog server, as the objects store's is (the write failed
    with pyarrow's raw NO_SUCH_BUCKET). Reads do not ask: they work without S3 where they can."""
    if settings.warehouse.startswith("s3://"):
        from lakehouse.data.storage import open_store

        open_store(settings.warehouse, settings)


def catalog_properties(settings: Settings) -> dict[str, str]:
    """pyiceberg's catalog properties: the catalog's URL, the warehouse and its S3 access."""
    props = {"uri": settings.catalog, "warehouse": settings.warehouse}
    if settings.warehouse.startswith("s3://"):
        optional = {
            "s3.endpoint": settings.s3_endpoint,
            "s3.access-key-id": settings.s3_access_key,
            "s3.secret-access-key": settings.s3_secret_key,
        }
        props.update({k: v for k, v in optional.items() if v})
        props["s3.region"] = settings.s3_region
    return props


def open_sql_catalog(name: str, properties: dict[str, str], statement_timeout_s: float | None = None) -> Any:
    """pyiceberg's SqlCatalog on `properties["uri"]`, its tables created on first use. On a server,
    each statement and each idle transaction of its sessions ends after `statement_timeout_s`."""
    from pyiceberg.catalog.sql import SqlCatalog
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError, DatabaseError, NoSuchModuleError, OperationalError

    try:
        url = make_url(properties["uri"])
    except ArgumentError:
        # The text itself is not shown: an unparsable URL may still carry a password.
        raise CatalogSettingError(f"setting {SETTING} is not a SQLAlchemy URL; use one such as {EXAMPLES}") from None
    shown = url.render_as_string(hide_password=True)
    props = dict(properties)
    if url.get_backend_name() != "sqlite":
        # Long-lived workers outlive a database restart or an idle-connection timeout.
        props.setdefault("pool_pre_ping", "true")
        if statement_timeout_s is not None:
            props["uri"] = _with_session_timeouts(url, statement_timeout_s).render_as_string(hide_password=False)
    try:
        try:
            catalog = SqlCatalog(name, **props)
        except DatabaseError as exc:  # another process created the catalog tables at the same moment
            if _unreachable(exc, url.get_backend_name()):
                raise
            catalog = SqlCatalog(name, **props)
    except (NoSuchModuleError, ImportError) as exc:
        raise CatalogSettingError(
            f"setting {SETTING} = {shown!r} cannot be opened ({_first_line(exc)}): use a URL such as {EXAMPLES} "
            "(PostgreSQL needs the psycopg package: pip install 'psycopg[binary]')"
        ) from None
    except OperationalError as exc:
        if url.get_backend_name() == "sqlite":
            raise  # a locked SQLite file: the write's commit loop retries it
        raise unreachable_error(url, exc) from None
    if url.get_backend_name() != "sqlite":
        if statement_timeout_s:
            from lakehouse.data.catalog_deadline import watch_pool

            watch_pool(catalog.engine, DEADLINE_FACTOR * statement_timeout_s)
        _unavailable_when_unreachable(catalog.engine, url, statement_timeout_s)
    return catalog


def _with_session_timeouts(url: Any, seconds: float) -> Any:
    """`url` with libpq `options` that make the server end a statement waiting longer than
    `seconds` (a lock held by a frozen machine or an open transaction: every writer of that table
    waited for good) and a session idle inside a transaction as long (so a frozen machine of ours
    cannot hold a table's lock from the others). The lock sessions of catalog_lock.py are not
    opened from this URL: their wait for a writer is meant to last."""
    ms = max(1, round(seconds * 1000))
    ours = f"-c statement_timeout={ms} -c idle_in_transaction_session_timeout={ms}"
    theirs = url.query.get("options", "")
    if isinstance(theirs, tuple):
        theirs = " ".join(theirs)
    return url.update_query_dict({"options": f"{theirs} {ours}".strip()})


def _unavailable_when_unreachable(engine: Any, url: Any, statement_timeout_s: float | None) -> None:
    """A server that goes away after the catalog opened (a restart, a network cut) fails every
    later call with the same error as at open, not SQLAlchemy's (an HTTP 500 until it came back);
    a statement the server ended at its timeout says why."""
    from sqlalchemy import event

    from lakehouse.data.catalog_deadline import passed_in_this_thread

    def translate(context: Any) -> None:
        if context.is_pre_ping:
            return  # a pooled connection gone stale: SQLAlchemy connects again by itself
        if (deadline := passed_in_this_thread()) is not None:
            raise CatalogUnavailable(
                f"the catalog database {url.render_as_string(hide_password=True)} did not answer within "
                f"{deadline.seconds:g} s (twice the setting {STATEMENT_TIMEOUT_SETTING}), on a connection that "
                "was open: its server is stopped or frozen, or the network to it is cut; try again"
            )
        # a connection that could not be made, or one the server dropped; not a failed statement
        if context.connection is None or context.is_disconnect:
            raise unreachable_error(url, context.sqlalchemy_exception or context.original_exception)
        if getattr(context.original_exception, "sqlstate", None) == QUERY_CANCELED and statement_timeout_s:
            raise CatalogBusy(
                f"the catalog database {url.render_as_string(hide_password=True)} did not answer within "
                f"{statement_timeout_s:g} s (setting {STATEMENT_TIMEOUT_SETTING}): another session holds a lock "
                "it needs (a machine stopped in the middle of a commit, an open transaction) or the server is "
                "overloaded; try again"
            )

    event.listen(engine, "handle_error", translate)


def _unreachable(exc: BaseException, backend: str) -> bool:
    """A refused or failed connection, which a second try would only repeat."""
    from sqlalchemy.exc import OperationalError

    return backend != "sqlite" and isinstance(exc, OperationalError)


def unreachable_error(url: Any, exc: Any, purpose: str = "") -> CatalogUnavailable:
    """The error for a catalog server that refused or failed a connection (SQLAlchemy's
    `OperationalError`), its password hidden in the URL and in the driver's text."""
    detail = _first_line(getattr(exc, "orig", None) or exc)
    if url.password:
        detail = detail.replace(str(url.password), "***")
    shown = url.render_as_string(hide_password=True)
    return CatalogUnavailable(f"the catalog database {shown} (setting {SETTING}) cannot be reached{purpose}: {detail}")


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
