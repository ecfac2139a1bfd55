"""Settings: defaults < lakehouse.toml < LH_* environment.

The TOML file is `./lakehouse.toml`, or the path in `LH_CONFIG`. Nested tables use `__` in the
environment (`LH_MODELS__DEFAULT=local_fast`).
"""

from __future__ import annotations

import json
import logging
import os
import tomllib
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ByteSize, ConfigDict, Field, PrivateAttr, field_validator
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)
from pydantic_settings import SettingsError as PydanticSettingsError

from lakehouse.common.errors import SettingsError
from lakehouse.common.secrets import SecretFileError, is_secret_name, read_key_file
from lakehouse.common.suggest import close_matches, did_you_mean

log = logging.getLogger(__name__)
MiB = 1024 * 1024
GiB = 1024 * MiB


class ModelTier(BaseModel):
    """A named model: what litellm calls it and, for a trusted local endpoint, where it lives."""

    model_config = ConfigDict(extra="forbid")  # a misspelt key did nothing
    model: str
    api_base: str | None = None
    api_key_env: str | None = None  # name of the environment variable holding the key
    api_key_file: str | None = None  # or a secret file holding it (owner-only: mode 0600 or 0400)


class ModelsSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    default: str | None = None
    tiers: dict[str, ModelTier] = Field(default_factory=dict)
    weak_models: list[str] = Field(default_factory=list)
    # Hosts a request-supplied api_base may point to; settings-supplied tiers are trusted.
    api_base_allow: list[str] = Field(default_factory=list)


# LH_* variables that are not settings: the settings file, tracebacks, and the tests' fault hooks
_NOT_SETTINGS = ("LH_CONFIG", "LH_DEBUG", "LH_TEST_", "LH_FAULT_")


def _config_path() -> Path:
    named = os.environ.get("LH_CONFIG")
    if named and not Path(named).expanduser().exists():
        # defaults were used instead, and a fresh lakehouse made in the working directory
        raise SettingsError(
            f"LH_CONFIG names {named!r}, which does not exist: "
            f"give the path of a lakehouse.toml ({os.devnull} for none)"
        )
    if named and Path(named).expanduser().is_dir():  # was read as no file: the defaults, silently
        raise SettingsError(
            f"LH_CONFIG names {named!r}, which is a folder: give the path of a lakehouse.toml ({os.devnull} for none)"
        )
    return Path(named or "lakehouse.toml").expanduser()


class _CheckedToml(TomlConfigSettingsSource):
    """lakehouse.toml as pydantic-settings reads it, but a syntax error names the file (it was an
    internal error without it), and a key that is no setting is refused by name (a typo did nothing)."""

    def __init__(self, settings_cls: type[BaseSettings], path: Path) -> None:
        try:
            super().__init__(settings_cls, toml_file=path)
        except tomllib.TOMLDecodeError as exc:
            raise SettingsError(f"settings file {path}: not valid TOML: {exc}") from None
        except UnicodeDecodeError as exc:  # was an internal error (exit 2) that named no file
            raise SettingsError(
                f"settings file {path}: not UTF-8 text (byte 0x{exc.object[exc.start]:02x} at offset {exc.start}): "
                "save it as UTF-8"
            ) from None
        fields = settings_cls.model_fields
        unknown = [key for key in self.toml_data if key not in fields]
        if unknown:
            problems = ", ".join(f"{key!r}{did_you_mean(key, fields, n=1, cutoff=0.6)}" for key in unknown)
            raise SettingsError(f"settings file {path}: not a setting: {problems} (every setting: lakehouse/config.py)")


def _meant_setting(name: str, fields: list[str]) -> str | None:
    """The setting an unknown LH_ name most likely misspells: a close spelling, the name of a setting
    without its suffix (LH_CATALOG for LH_CATALOG_URL), or its letters with two swapped (LH_HOEM).
    The last two are too far apart for the close spelling alone, and were ignored without a word (the
    catalog then was the local SQLite file, the home ./.lakehouse)."""
    close = close_matches(name, fields, n=1, cutoff=0.8)
    if close:
        return close[0]
    longer = sorted((field for field in fields if field.startswith(name + "_")), key=len)
    if longer:
        return longer[0]
    swapped = [f for f in fields if len(f) == len(name) and sum(a != b for a, b in zip(f, name, strict=True)) == 2]
    return next((f for f in swapped if sorted(f) == sorted(name)), None)


def _warn_unknown_environment() -> None:
    """An LH_* variable close to a setting's name is most likely a typo of it: say so (it is
    ignored). Others may be the user's own (a model tier's key variable), so they are left alone."""
    fields = [name.upper() for name in Settings.model_fields]
    for variable in os.environ:
        name = variable.removeprefix("LH_").split("__")[0]
        if not variable.startswith("LH_") or variable.startswith(_NOT_SETTINGS) or name in fields:
            continue
        match = _meant_setting(name, fields)
        if match:
            log.warning("environment variable %s is not a setting and is ignored; did you mean LH_%s?", variable, match)


def _checked_environment(env_settings: PydanticBaseSettingsSource) -> Any:
    """The LH_* environment as pydantic-settings reads it, but an empty `LH_HOME=` is unset, as
    flows/prefect_env.py reads it (taken as the path "", it put the ops log, catalog and objects in
    the working directory itself and Prefect's state in ./.lakehouse)."""

    def environment() -> dict[str, Any]:
        try:
            values = env_settings()
        except PydanticSettingsError as exc:  # a list or table variable that is not JSON
            raise SettingsError(_not_json(exc)) from None
        if isinstance(values.get("home"), str) and not values["home"].strip():
            del values["home"]
        return values

    return environment


def _not_json(exc: PydanticSettingsError) -> str:
    """pydantic-settings' "error parsing value for field "models" from source "EnvSettingsSource""
    (an internal error, exit 2) as the variables it read and what their values must be."""
    field = str(exc).split('"')[1] if str(exc).count('"') >= 2 else "?"
    prefix = f"LH_{field.upper()}"
    variables = sorted(v for v in os.environ if v.upper() == prefix or v.upper().startswith(prefix + "__"))
    return (
        f"setting {field!r}: {', '.join(variables) or prefix}: a value is not valid JSON ({exc.__cause__}); "
        "a list or table set in the environment is JSON, e.g. LH_MODELS__WEAK_MODELS='[\"local_fast\"]', "
        'LH_MODELS__TIERS=\'{"local_fast": {"model": "ollama_chat/llama3.2"}}\''
    )


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="LH_", env_nested_delimiter="__", extra="ignore", validate_default=True
    )

    home: Path = Path(".lakehouse")

    # storage and tables
    objects_url: str | None = None  # default: file://<home>/objects
    catalog_url: str | None = None  # default: sqlite:///<home>/catalog.db
    warehouse_url: str | None = None  # Iceberg data + metadata; default: the folder <home>/warehouse
    s3_endpoint: str | None = None
    s3_access_key: str | None = None
    s3_secret_key: str | None = None
    s3_region: str = "us-east-1"
    s3_secure: bool = True
    s3_timeout_s: float = Field(default=30.0, gt=0)  # an object-store call's wait to connect / for an answer
    put_cap_bytes: int = Field(default=256 * MiB, ge=1)
    put_cap_vectors_bytes: int = Field(default=4 * GiB, ge=1)

    # a PostgreSQL catalog: seconds to wait for a connection (libpq's connect_timeout, at least 2)
    catalog_connect_timeout_s: int = Field(default=10, ge=2)
    # a PostgreSQL catalog: seconds a statement may wait (a lock another session holds) and a session
    # of ours may sit idle inside a transaction (a machine frozen mid-commit) before the server ends it
    # (0: none asked, for a connection pooler such as PgBouncer that refuses libpq's `options`)
    catalog_statement_timeout_s: float = Field(default=30.0, ge=0, le=3600, allow_inf_nan=False)
    table_target_file_bytes: int = Field(default=32 * MiB, ge=MiB)  # Iceberg write.target-file-size-bytes
    table_commit_attempts: int = Field(default=8, ge=1)  # a write losing this many commit races fails
    table_gc_older_than_s: float = Field(default=3600.0, ge=0)  # `lakehouse gc` leaves younger files alone
    # a Parquet file decoding to more is refused (its compression can hide a 10,000x expansion)
    ingest_parquet_max_decoded_bytes: ByteSize = Field(default=ByteSize(512 * MiB), gt=0)
    # An ingest keeps a table's newest snapshots (`sql --snapshot` reads them) and expires older ones, whose
    # files `lakehouse gc` then removes: without it every small append grew each metadata file and commit.
    # A file is known as already ingested by its snapshot: once that expired, the same file appends again.
    table_snapshots_kept: int = Field(default=100, ge=1)
    # `lakehouse gc` (and the nightly tables-gc job) drop the ops, run records and reports older than this;
    # the Prefect server lakehouse starts deletes flow runs that ended that long ago (Prefect's default: 90)
    history_kept_days: float = Field(default=90.0, ge=1, allow_inf_nan=False)  # a day at least (Prefect: over 1 h)

    # sql
    sql_timeout_s: float = Field(default=30.0, gt=0, allow_inf_nan=False)
    sql_row_cap: int = Field(default=10_000, ge=0)
    sql_result_max_bytes: int = Field(default=16 * MiB, ge=1)  # a query answering more is refused
    sql_memory_limit: str = "1GB"  # DuckDB memory_limit per database; past it queries spill or fail
    sql_threads: int = Field(default=2, ge=1)  # DuckDB threads per database
    sql_temp_max_size: str = "10GB"  # DuckDB max_temp_directory_size (spill files, LH_HOME/tmp/duckdb)
    # SQL in worker processes whose memory is capped (what DuckDB's memory_limit does not bound):
    # auto = in `lakehouse api` and `lakehouse mcp`, process = everywhere, off = nowhere
    sql_isolation: Literal["auto", "process", "off"] = "auto"
    sql_workers: int = Field(default=2, ge=1, le=64)  # worker processes at most; more queries wait for one
    sql_worker_memory: ByteSize = ByteSize(3 * GiB)  # a worker's data segment, ~0.45 GB at rest; 2GiB-1TiB

    # embeddings, vectors, matrix
    embed_model: str = "minilm"
    # Bounded, so a nonsense value is refused by name at start: nan let every search answer nothing
    # (relevance_threshold), a negative one mangled every audit row (ops_summary_chars).
    embed_cache_size: int = Field(default=20_000, ge=0)
    hnsw_m: int = Field(default=16, ge=2)
    hnsw_ef_construction: int = Field(default=200, ge=1)
    hnsw_ef: int = Field(default=64, ge=1)
    matrix_top_k: int = Field(default=6, ge=1, le=1000)
    matrix_top_n: int = Field(default=8, ge=1, le=1000)
    relevance_filter: bool = True
    relevance_threshold: float = Field(default=0.25, ge=-1, le=1)  # a cosine similarity
    relevance_margin: float = Field(default=0.25, ge=0, le=2)  # between two cosine similarities
    playbook_half_life_days: float = Field(default=30.0, gt=0)
    embed_batch_size: int = Field(default=64, ge=1)
    # corpus builds embed on this Dask cluster: a scheduler address (tcp://host:8786) or local[:N] (a
    # LocalCluster of N worker processes for the build); None = in this process
    dask_address: str | None = None
    hnsw_threads: int = Field(default=0, ge=0)  # 0 = one per CPU core (index builds); single queries always use one
    corpus_generations_kept: int = Field(default=5, ge=1)  # past generations kept per corpus (and the live one)
    # Playbook vote (lakehouse/search/playbooks.py); defaults measured in BENCHMARKS.md "LEARNING".
    # recorded queries less similar than this to a new one never vote
    playbook_min_similarity: float = Field(default=0.3, ge=-1, le=1)
    # weight of the neighbours' vote: score = cosine + boost * vote + memory
    playbook_boost: float = Field(default=1.5, ge=0)
    playbook_neighbours: int = Field(default=20, ge=1, le=1000)  # recorded queries that vote on a new one
    playbook_vote_temperature: float = Field(default=0.1, gt=0)  # lower: the nearest neighbours count more
    playbook_memory_similarity: float = Field(default=0.97, gt=0, le=1)  # this similar: the same question
    # one more voter, this similar, that backs no answer: far neighbours carry less (0: none)
    playbook_vote_abstain_similarity: float = Field(default=1.0, ge=0, le=1)

    # learning loop: distillation and drift
    distill_scorer: str = "v2"  # scorer version used when a command does not name one
    distill_ngram: int = Field(default=3, ge=1)  # word n-gram size of the contamination firewall
    # shared n-gram fraction above which a record is refused
    distill_overlap_threshold: float = Field(default=0.5, gt=0, le=1)
    drift_alpha: float = Field(default=0.05, gt=0, lt=1)  # significance level of the embedding-drift KS tests
    drift_evidence: str = "evidence.jsonl"  # nightly scorer drift re-scores this history (under home)
    lift_top_k: int = Field(default=10, ge=1, le=1000)  # the playbook-lift judge picks among this many cold hits

    # workflow files: parsing, checks and reference rendering are bounded (issue 9)
    workflow_max_bytes: int = Field(default=MiB, ge=1)  # a larger workflow file is refused unread
    workflow_max_depth: int = Field(default=64, ge=2)  # YAML (and input value) nesting levels
    workflow_max_aliases: int = Field(default=100, ge=0)  # YAML alias uses (`*name`) per file
    workflow_max_values: int = Field(default=100_000, ge=1)  # YAML values, aliases expanded
    workflow_max_nodes: int = Field(default=1_000, ge=1)  # nodes per workflow
    workflow_max_input_chars: int = Field(default=MiB, ge=1)  # referenced data in one node's input

    # shared state (lakehouse/data/shared_log.py): ops, playbooks, pathway and evidence logs flushed to
    # `_lh_*` tables of the catalog. auto: on when `catalog_url` is set (a catalog other processes share)
    shared_state: Literal["auto", "on", "off"] = "auto"
    shared_state_batch_rows: int = Field(default=5_000, ge=1)  # rows per Iceberg commit of a flush
    shared_state_flush_interval_s: float = Field(default=30.0, ge=0)  # API server timer; 0 = no timer
    shared_state_refresh_s: float = Field(default=0.0, ge=0)  # readers re-check the table at most this often
    shared_state_snapshots_kept: int = Field(default=100, ge=1)  # older snapshots of a `_lh_*` table expire

    # observer
    ops_ring_size: int = Field(default=10_000, ge=1)
    ops_summary_chars: int = Field(default=2_000, ge=0)

    # llm
    models: ModelsSettings = Field(default_factory=ModelsSettings)

    # http api
    api_token: str | None = None
    # CIDR lists; in the environment a JSON list or comma-separated (LH_API_ALLOW=10.0.0.0/8,::1)
    api_allow: Annotated[list[str], NoDecode] = Field(default_factory=list)
    api_trusted_proxies: Annotated[list[str], NoDecode] = Field(default_factory=list)
    api_max_body_bytes: int = Field(default=32 * MiB, ge=1)
    # a stopping API waits this long for its requests in flight, then as long for its running
    # workflow runs (one paused for an approval would hold it for the pause's hour); then it exits
    # within 10 s, nodes in flight or not, and those runs read as crashed, resumable
    api_stop_grace_s: float = Field(default=30.0, ge=0, allow_inf_nan=False)
    # the CLI sends search / playbook calls to a `lakehouse api` running on this LH_HOME (its model is loaded)
    cli_use_api: bool = True
    # `workflow run|resume` and `main` start a local Prefect server in the background when none is in
    # use, so this and later runs skip Prefect's temporary server (`lakehouse server stop` ends it)
    prefect_autostart: bool = True

    # paths: besides LH_HOME and LH_HOME/inbox, the roots HTTP, MCP and HTTP-submitted workflows may
    # read and write under; in the environment a JSON list or comma-separated (LH_ALLOWED_ROOTS=/data,/srv/in)
    allowed_roots: Annotated[list[Path], NoDecode] = Field(default_factory=list)

    _env_secrets: set[str] | None = PrivateAttr(default=None)

    @field_validator("home", mode="before")
    @classmethod
    def _home_named(cls, value: Any) -> Any:
        if isinstance(value, str) and not value.strip():
            raise ValueError("must name a folder (leave it out for the default, .lakehouse)")
        return value

    @field_validator("sql_worker_memory")
    @classmethod
    def _worker_memory(cls, value: ByteSize) -> ByteSize:
        # a worker holds ~0.45 GB at rest and DuckDB's own buffers (sql_memory_limit, 1GB) beside
        # what a query builds; past a terabyte the kernel's limit type is the only bound
        if not 2 * GiB <= value <= 1024 * GiB:
            raise ValueError(f"must be from 2GiB to 1TiB, got {value.human_readable()} ({int(value)} bytes)")
        return value

    @field_validator("warehouse_url")
    @classmethod
    def _s3_warehouse(cls, value: str | None) -> str | None:
        # pyarrow took `s3://b/../x` for the bucket `x` and failed `s3:///x` at the first write
        if value and value.lower().startswith("s3:"):
            bucket, _, prefix = value[len("s3://") :].partition("/") if value.startswith("s3://") else ("", "", "")
            parts = prefix.strip("/").split("/") if prefix.strip("/") else []
            if not bucket or any(part in ("", ".", "..") for part in parts):
                raise ValueError(f"must be s3://bucket[/prefix] with no empty, '.' or '..' part, got {value!r}")
        return value

    @field_validator("shared_state", mode="before")
    @classmethod
    def _on_off(cls, value: Any) -> Any:
        words = {"true": "on", "1": "on", "yes": "on", "false": "off", "0": "off", "no": "off"}
        if isinstance(value, bool):
            return "on" if value else "off"
        return words.get(value.strip().lower(), value.strip().lower()) if isinstance(value, str) else value

    @field_validator("api_allow", "api_trusted_proxies", "allowed_roots", mode="before")
    @classmethod
    def _split_list(cls, value: Any) -> Any:
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("["):
                return json.loads(text)
            return [part.strip() for part in text.split(",") if part.strip()]
        return value

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        toml = _CheckedToml(settings_cls, _config_path())
        return (init_settings, _checked_environment(env_settings), toml, file_secret_settings)

    # derived locations -------------------------------------------------------------------
    @property
    def home_dir(self) -> Path:
        return self.home.expanduser().resolve()

    @property
    def objects(self) -> str:
        return self.objects_url or (self.home_dir / "objects").as_uri()

    @property
    def catalog(self) -> str:
        # built, not pasted: a home path holding '?', '#' or '%' read as a URL's query or escapes put
        # the catalog outside the home (`/data/q?1` and `/data/q?2` shared `/data/q`) or failed to open it
        url = self.catalog_url or sqlite_url(self.home_dir / "catalog.db")
        if url.startswith(("postgresql", "postgres:")) and "connect_timeout=" not in url:
            # a server that takes connections but never answers (frozen, a network black hole) held
            # every command for psycopg's default 130 s
            url += ("&" if "?" in url else "?") + f"connect_timeout={self.catalog_connect_timeout_s}"
        return url

    @property
    def warehouse(self) -> str:
        # a plain path, not a file:// URI: pyiceberg takes a URI's path as written, never unquoted, so a
        # home with a space or a non-ASCII letter kept its tables in a sibling folder named `a%20b`
        return self.warehouse_url or str(self.home_dir / "warehouse")

    @property
    def shared_state_enabled(self) -> bool:
        return self.shared_state == "on" or (self.shared_state == "auto" and self.catalog_url is not None)

    @property
    def ops_log(self) -> Path:
        return self.home_dir / "ops.jsonl"

    @property
    def pathway_log(self) -> Path:
        return self.home_dir / "pathway.jsonl"

    @property
    def playbook_log(self) -> Path:
        return self.home_dir / "playbooks.jsonl"

    @property
    def user_workflows(self) -> Path:
        return self.home_dir / "workflows"

    def secret_values(self) -> list[str]:
        """Values that must never reach a log, an error body or an ObservedOp, longest first: our
        own secrets, the model tiers' keys (environment or file), and any environment variable whose
        name says it holds one. Read fresh on each call, so rotated keys are covered too."""
        configured = [self.api_token, self.s3_access_key, self.s3_secret_key]
        for name, tier in self.models.tiers.items():
            if tier.api_key_env:
                configured.append(os.environ.get(tier.api_key_env))
            if tier.api_key_file:
                try:
                    configured.append(read_key_file(tier.api_key_file, f"tier {name!r}: key file"))
                except SecretFileError as exc:  # refused (loose mode) or unreadable: never read, never sent
                    _warn_once(str(exc))
        found = {v for v in configured if v and len(v) >= 4} | self._named_env_secrets()
        return sorted(found, key=len, reverse=True)

    def _named_env_secrets(self) -> set[str]:
        """Environment values whose variable's name says they are secret, scanned once per
        settings object (on every mode call it was most of the call's cost). Values found only by
        name must be long: a short one ("true") is no secret and masking it would mangle text."""
        if self._env_secrets is None:
            self._env_secrets = {v for k, v in os.environ.items() if len(v) >= 8 and is_secret_name(k)}
        return self._env_secrets

    def redacted(self) -> dict[str, Any]:
        """Settings as a dict with secrets masked, for display and logs."""
        data = self.model_dump(mode="json")
        for key in ("s3_secret_key", "s3_access_key", "api_token"):
            if data.get(key):
                data[key] = "***"
        return data


def sqlite_url(path: Path) -> str:
    """The SQLAlchemy URL of a SQLite file: its path quoted, which SQLAlchemy unquotes back."""
    from urllib.parse import quote

    return "sqlite:///" + quote(str(path), safe="/")


def describe_settings_error(exc: Any) -> str:
    """A bad setting's value, named as the user sets it: `setting 'sql_timeout_s' (LH_SQL_TIMEOUT_S
    or the settings file): problem`."""
    from lakehouse.common.validation import field_path, problem_text

    parts = []
    for error in exc.errors():
        path = field_path(error["loc"])
        problem = "not a setting" if error["type"] == "extra_forbidden" else problem_text(error)
        parts.append(f"setting {path!r} (LH_{path.upper().replace('.', '__')} or {_config_path()}): {problem}")
    return "; ".join(parts)


@lru_cache(maxsize=64)
def _warn_once(message: str) -> None:
    log.warning("%s", message)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    settings = Settings()
    _warn_unknown_environment()
    return settings


def reset_settings() -> None:
    """Forget cached settings (tests and CLI options that change the environment)."""
    get_settings.cache_clear()
