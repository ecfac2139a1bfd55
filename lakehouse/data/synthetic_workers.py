"""SYNTHETIC worker profiles: a realistic, name-free `workers` table for scale tests and demos.

Every row is made up. Nothing describes a real person; the rows only follow real public statistics:

- occupation (O*NET-SOC code and title, `examples/data/occupations.tsv`) and state are drawn together,
  weighted by May 2025 BLS OEWS employment of that occupation in that state
  (`examples/data/oews_2025_state_occupation_wages.csv`); when several O*NET codes share one SOC code
  its employment is split evenly between them;
- the job title a worker uses is one of O*NET's reported job titles for the occupation
  (`examples/data/onet_reported_titles.tsv.gz`), else the O*NET title made singular;
- the city is one of a few large cities of the state (`examples/data/us_state_cities.csv`), weighted
  1/rank;
- certifications depend on the occupation family (`CERT_RULES`: OSHA-10 for construction, CDL-A for
  heavy truck drivers, ServSafe for food service, ...);
- the hourly pay expectation is the BLS hourly median wage for that occupation and state (else the
  annual median / 2080, the mean, or the national figure), times noise and a small experience
  factor, clipped to [PAY_LOW, PAY_HIGH] x the wage;
- `profile` is a short free-text sentence built from those fields.

Deterministic: the same seed and row count give the same rows and, for one pyarrow version, the same
file bytes. Rows are generated in batches of `BATCH_ROWS`, each from its own seeded generator, so the
first N rows of a larger table equal the table of N rows, and memory stays flat at any size.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import json
import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from lakehouse.errors import UserError

DATA_DIR = Path(__file__).resolve().parents[2] / "examples" / "data"
BATCH_ROWS = 50_000
MAX_ROWS = 20_000_000
SUFFIXES = {".parquet": "parquet", ".pq": "parquet", ".jsonl": "jsonl", ".ndjson": "jsonl"}
PAY_LOW, PAY_HIGH = 0.75, 1.35  # pay expectation / BLS wage stays inside these bounds
HOURS_PER_YEAR = 2080

SCHEMA = pa.schema(
    [
        ("worker_id", pa.string()),
        ("occupation_code", pa.string()),
        ("soc_code", pa.string()),
        ("occupation_title", pa.string()),
        ("job_title", pa.string()),
        ("state", pa.string()),
        ("city", pa.string()),
        ("certifications", pa.list_(pa.string())),
        ("years_experience", pa.int32()),
        ("availability", pa.string()),
        ("pay_expectation", pa.float64()),
        ("profile", pa.string()),
    ]
)

AVAILABILITY = {"full-time": 0.55, "part-time": 0.18, "nights": 0.08, "weekends": 0.07, "seasonal": 0.06}
AVAILABILITY["on-call"] = 1.0 - sum(AVAILABILITY.values())
_AVAILABLE_FOR = {
    "full-time": "full-time work",
    "part-time": "part-time work",
    "nights": "night shifts",
    "weekends": "weekend shifts",
    "seasonal": "seasonal work",
    "on-call": "on-call shifts",
}

# (O*NET code prefix, {certification: probability}); later, more specific rules override earlier ones.
CERT_RULES: list[tuple[str, dict[str, float]]] = [
    ("", {"First Aid/CPR": 0.04, "OSHA-10": 0.02}),
    ("11-", {"OSHA-30": 0.03}),
    ("13-2011", {"CPA": 0.35}),
    ("15-1232", {"CompTIA A+": 0.5}),
    ("25-", {"First Aid/CPR": 0.3}),
    ("29-", {"BLS": 0.7, "First Aid/CPR": 0.3}),
    ("29-1141", {"ACLS": 0.35}),
    ("29-2042", {"EMT": 0.9}),
    ("31-", {"BLS": 0.5, "First Aid/CPR": 0.35}),
    ("31-1131", {"CNA": 0.85}),
    ("31-9097", {"Phlebotomy": 0.85}),
    ("33-", {"First Aid/CPR": 0.45}),
    ("33-2011", {"EMT": 0.3}),
    ("33-9032", {"Security Guard License": 0.85}),
    ("35-", {"ServSafe Food Handler": 0.45, "TIPS": 0.05}),
    ("35-1012", {"ServSafe Manager": 0.6}),
    ("11-9051", {"ServSafe Manager": 0.6}),
    ("35-3011", {"TIPS": 0.4}),
    ("35-3031", {"TIPS": 0.4}),
    ("37-", {"OSHA-10": 0.15}),
    ("37-3012", {"Pesticide Applicator": 0.7}),
    ("39-", {"First Aid/CPR": 0.35}),
    ("39-9011", {"First Aid/CPR": 0.8}),
    ("47-", {"OSHA-10": 0.55, "OSHA-30": 0.15, "First Aid/CPR": 0.2, "Forklift": 0.08, "NCCER Core": 0.12}),
    ("47-1", {"OSHA-30": 0.5}),
    ("47-2061", {"Flagger": 0.25}),
    ("49-", {"OSHA-10": 0.3, "Lockout/Tagout": 0.15}),
    ("49-3023", {"ASE": 0.4}),
    ("49-9021", {"EPA 608": 0.7}),
    ("51-", {"OSHA-10": 0.35, "Forklift": 0.2, "Lockout/Tagout": 0.2, "First Aid/CPR": 0.08}),
    ("51-4121", {"AWS Welding": 0.5}),
    ("53-", {"OSHA-10": 0.25, "Forklift": 0.2}),
    ("53-7051", {"Forklift": 0.9}),
    ("53-7062", {"Forklift": 0.45}),
    ("53-7065", {"Forklift": 0.45}),
    ("53-3032", {"CDL-A": 0.92, "HAZMAT": 0.25}),
    ("53-3033", {"CDL-B": 0.2}),
    ("53-3051", {"CDL-B": 0.85}),
    ("53-3052", {"CDL-B": 0.85}),
    ("53-3053", {"CDL-B": 0.85}),
]
CERTS: tuple[str, ...] = tuple(dict.fromkeys(cert for _, rule in CERT_RULES for cert in rule))


@dataclass(frozen=True)
class Sources:
    """The real inputs, as arrays: one entry per occupation, per (state, occupation) pair, per state."""

    codes: np.ndarray  # O*NET code per occupation
    titles: np.ndarray  # O*NET title per occupation
    cert_probs: np.ndarray  # occupation x CERTS
    senior: np.ndarray  # occupation: management or first-line supervisor (more experience)
    job_titles: np.ndarray  # flattened job titles; occupation i owns [title_start[i], +title_count[i])
    title_start: np.ndarray
    title_count: np.ndarray
    pair_occupation: np.ndarray  # per (state, occupation) pair
    pair_state: np.ndarray
    pair_wage: np.ndarray  # BLS hourly wage of the pair
    pair_weight: np.ndarray  # employment share, sums to 1
    states: np.ndarray  # postal code per state
    cities: list[tuple[np.ndarray, np.ndarray]]  # per state: (city names, cumulative 1/rank weights)

    def wage(self, code: str, state: str) -> float:
        """The BLS hourly wage a pay expectation is drawn around."""
        occupation = int(np.flatnonzero(self.codes == code)[0])
        state_index = int(np.flatnonzero(self.states == state)[0])
        pair = np.flatnonzero((self.pair_occupation == occupation) & (self.pair_state == state_index))
        return float(self.pair_wage[pair[0]])


def _number(text: str | None) -> float | None:
    try:
        return float(text) if text else None
    except ValueError:  # BLS suppressed-value markers: '-', '*', '#'
        return None


def _hourly(row: dict[str, str]) -> float | None:
    annual = _number(row["annual_median_wage"])
    return (
        _number(row["hourly_median_wage"])
        or (annual / HOURS_PER_YEAR if annual else None)
        or _number(row["hourly_mean_wage"])
    )


def _singular(title: str) -> str:
    title = title.removesuffix(", All Other").split(",")[0].split(" and ")[0].strip()
    words = title.split()
    last = words[-1]
    if last.endswith("ies"):
        last = last[:-3] + "y"
    elif last.endswith("s") and not last.endswith("ss"):
        last = last[:-1]
    return " ".join([*words[:-1], last])


def _require(path: Path) -> Path:
    if not path.is_file():
        raise UserError(f"synthetic workers: source file {path} is missing (a checkout of the repository has it)")
    return path


@lru_cache(maxsize=2)
def load_sources(data_dir: Path = DATA_DIR) -> Sources:
    with _require(data_dir / "occupations.tsv").open(encoding="utf-8-sig", newline="") as fh:
        occupations = [(r["O*NET-SOC Code"], r["Title"]) for r in csv.DictReader(fh, delimiter="\t")]
    reported: dict[str, list[str]] = {}
    with gzip.open(_require(data_dir / "onet_reported_titles.tsv.gz"), "rt", encoding="utf-8", newline="") as fh:
        for r in csv.DictReader(fh, delimiter="\t"):
            reported.setdefault(r["O*NET-SOC Code"], []).append(re.sub(r"\s*\(.*?\)", "", r["Reported Job Title"]))
    codes = np.array([c for c, _ in occupations])
    by_soc: dict[str, list[int]] = {}
    for i, (code, _) in enumerate(occupations):
        by_soc.setdefault(code[:7], []).append(i)

    cities_by_name: dict[str, tuple[str, list[str]]] = {}
    with _require(data_dir / "us_state_cities.csv").open(encoding="utf-8", newline="") as fh:
        for r in csv.DictReader(fh):
            cities_by_name.setdefault(r["area_name"], (r["state"], []))[1].append(r["city"])
    state_names = list(cities_by_name)
    state_of = {name: i for i, name in enumerate(state_names)}

    national: dict[str, float] = {}
    pairs: list[tuple[int, int, float, float]] = []  # occupation, state, weight, wage
    with _require(data_dir / "oews_2025_state_occupation_wages.csv").open(encoding="utf-8", newline="") as fh:
        rows = [r for r in csv.DictReader(fh) if r["soc_code"] in by_soc]
    for r in rows:
        if r["area_name"] == "National" and (wage := _hourly(r)):
            national[r["soc_code"]] = wage
    for r in rows:
        employment = _number(r["employment"])
        state = state_of.get(r["area_name"])
        wage = _hourly(r) or national.get(r["soc_code"])
        if state is None or not employment or not wage:
            continue
        members = by_soc[r["soc_code"]]
        pairs.extend((i, state, employment / len(members), wage) for i in members)
    pair_arr = np.array(pairs, dtype=np.float64)
    weights = pair_arr[:, 2] / pair_arr[:, 2].sum()

    probs = np.zeros((len(codes), len(CERTS)))
    for prefix, rule in CERT_RULES:
        hit = np.char.startswith(codes, prefix)
        for cert, p in rule.items():
            probs[hit, CERTS.index(cert)] = p
    titles_flat: list[str] = []
    starts, counts = [], []
    for code, title in occupations:
        own = list(dict.fromkeys(reported.get(code) or [_singular(title)]))
        starts.append(len(titles_flat))
        counts.append(len(own))
        titles_flat.extend(own)
    senior = np.array([c.startswith("11-") or c[3] == "1" for c in codes])
    cities = []
    for name in state_names:
        names = cities_by_name[name][1]
        cumulative = np.cumsum(1.0 / np.arange(1, len(names) + 1))
        cities.append((np.array(names), cumulative / cumulative[-1]))
    return Sources(
        codes=codes,
        titles=np.array([t for _, t in occupations]),
        cert_probs=probs,
        senior=senior,
        job_titles=np.array(titles_flat),
        title_start=np.array(starts),
        title_count=np.array(counts),
        pair_occupation=pair_arr[:, 0].astype(np.int64),
        pair_state=pair_arr[:, 1].astype(np.int64),
        pair_wage=pair_arr[:, 3],
        pair_weight=weights,
        states=np.array([cities_by_name[n][0] for n in state_names]),
        cities=cities,
    )


def _years_text(years: int) -> str:
    return "less than a year" if years == 0 else ("1 year" if years == 1 else f"{years} years")


def _profile(template: int, job: str, city: str, state: str, years: int, certs: list[str], avail: str, pay: float):
    held = ""
    if certs:
        listed = certs[0] if len(certs) == 1 else ", ".join(certs[:-1]) + " and " + certs[-1]
        held = f" Holds {listed}." if template != 1 else f" Certifications: {', '.join(certs)}."
    wanted = _AVAILABLE_FOR[avail]
    experience = _years_text(years)
    if template == 0:
        return (
            f"{job} in {city}, {state} with {experience} of experience.{held} "
            f"Available for {wanted}, asking ${pay:.2f}/hour."
        )
    if template == 1:
        return (
            f"{job} based in {city}, {state}; {experience} in the field.{held} "
            f"Looking for {wanted} at about ${pay:.2f} an hour."
        )
    return f"{city}, {state}: {job.lower()}, {experience} of experience.{held} Wants {wanted}; expects ${pay:.2f}/hr."


def _batch(sources: Sources, seed: int, index: int, start: int, n: int) -> pa.RecordBatch:
    # One generator per column, so that every column's draws for the first k rows do not depend on n.
    rng = [np.random.default_rng([seed, index, column]) for column in range(8)]
    pair = rng[0].choice(len(sources.pair_weight), size=n, p=sources.pair_weight)
    occ, state = sources.pair_occupation[pair], sources.pair_state[pair]
    pick = (rng[1].random(n) * sources.title_count[occ]).astype(np.int64)
    job = sources.job_titles[sources.title_start[occ] + pick]
    city_draw = rng[2].random(n)
    cities = [
        sources.cities[s][0][np.searchsorted(sources.cities[s][1], u)] for s, u in zip(state, city_draw, strict=True)
    ]
    held = rng[3].random((n, len(CERTS))) < sources.cert_probs[occ]
    cdl_a, cdl_b, hazmat = (CERTS.index(c) for c in ("CDL-A", "CDL-B", "HAZMAT"))
    held[:, cdl_b] &= ~held[:, cdl_a]  # a class A licence covers class B vehicles
    held[:, hazmat] &= held[:, cdl_a] | held[:, cdl_b]  # the endorsement needs a CDL
    years = np.minimum(rng[4].gamma(2.0, 4.0, n) + 5.0 * sources.senior[occ], 45).astype(np.int32)
    avail_keys = list(AVAILABILITY)
    avail = rng[5].choice(len(avail_keys), size=n, p=list(AVAILABILITY.values()))
    wage = sources.pair_wage[pair]
    factor = np.exp(rng[6].normal(0.0, 0.1, n)) * (0.92 + 0.16 * np.minimum(years, 20) / 20)
    pay = np.round(wage * np.clip(factor, PAY_LOW, PAY_HIGH) * 4) / 4  # quoted to the quarter dollar
    # keep within the bounds after rounding too
    pay = np.clip(pay, np.ceil(wage * PAY_LOW * 4) / 4, np.floor(wage * PAY_HIGH * 4) / 4)
    templates = rng[7].integers(0, 3, n)

    rows, cols = np.nonzero(held)
    offsets = np.concatenate([[0], np.cumsum(np.bincount(rows, minlength=n))]).astype(np.int32)
    cert_names = np.array(CERTS)[cols]
    cert_lists = [cert_names[offsets[i] : offsets[i + 1]].tolist() for i in range(n)]
    state_codes = sources.states[state]
    avail_names = [avail_keys[a] for a in avail]
    profiles = [
        _profile(int(t), str(j), c, str(s), int(y), cl, a, float(p))
        for t, j, c, s, y, cl, a, p in zip(
            templates, job, cities, state_codes, years, cert_lists, avail_names, pay, strict=True
        )
    ]
    columns = [
        pa.array([f"W{i:07d}" for i in range(start + 1, start + n + 1)]),
        pa.array(sources.codes[occ]),
        pa.array(sources.codes[occ].astype("U7")),
        pa.array(sources.titles[occ]),
        pa.array(job),
        pa.array(state_codes),
        pa.array(cities, pa.string()),
        pa.ListArray.from_arrays(pa.array(offsets), pa.array(cert_names, pa.string())),
        pa.array(years, pa.int32()),
        pa.array(avail_names, pa.string()),
        pa.array(pay, pa.float64()),
        pa.array(profiles, pa.string()),
    ]
    return pa.RecordBatch.from_arrays(columns, schema=SCHEMA)


def check_rows(rows: int) -> None:
    if not 1 <= rows <= MAX_ROWS:
        raise UserError(f"--rows must be between 1 and {MAX_ROWS:,}, not {rows:,}")


def generate(rows: int, seed: int = 0, sources: Sources | None = None) -> Iterator[pa.RecordBatch]:
    """`rows` synthetic workers in batches of at most BATCH_ROWS (one Parquet row group each)."""
    check_rows(rows)
    sources = sources or load_sources()
    for index, start in enumerate(range(0, rows, BATCH_ROWS)):
        yield _batch(sources, seed, index, start, min(BATCH_ROWS, rows - start))


@dataclass(frozen=True)
class Written:
    path: str
    format: str
    rows: int
    bytes: int
    sha256: str
    seed: int


def output_format(out: Path) -> str:
    fmt = SUFFIXES.get(out.suffix.lower())
    if fmt is None:
        raise UserError(
            f"cannot write {out}: unknown suffix {out.suffix or '(none)'!r}; use one of {', '.join(SUFFIXES)} "
            "(CSV cannot hold the certifications list)"
        )
    return fmt


def write_workers(out: str | Path, rows: int, seed: int = 0, progress: Callable[[int], None] | None = None) -> Written:
    """Write `rows` synthetic workers to `out` (Parquet or JSON lines, by the suffix). The file appears
    only when complete: it is written next to `out` under a temporary name and renamed."""
    out = Path(out)
    check_rows(rows)
    fmt = output_format(out)
    if out.is_dir():
        raise UserError(f"cannot write {out}: it is a directory")
    if out.parent.exists() and not out.parent.is_dir():
        raise UserError(f"cannot write {out}: {out.parent} is not a directory")
    if not out.parent.is_dir():
        raise UserError(f"cannot write {out}: directory {out.parent} does not exist")
    sources = load_sources()
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    try:
        if fmt == "parquet":
            with pq.ParquetWriter(tmp, SCHEMA, compression="zstd") as writer:
                for batch in _counted(generate(rows, seed, sources), progress):
                    writer.write_batch(batch, row_group_size=BATCH_ROWS)
        else:
            with tmp.open("w", encoding="utf-8") as fh:
                for batch in _counted(generate(rows, seed, sources), progress):
                    fh.writelines(json.dumps(r, ensure_ascii=False) + "\n" for r in batch.to_pylist())
        os.replace(tmp, out)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise UserError(f"cannot write {out}: {exc.strerror or exc}") from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    digest = hashlib.sha256()
    with out.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return Written(str(out), fmt, rows, out.stat().st_size, digest.hexdigest(), seed)


def _counted(batches: Iterator[pa.RecordBatch], progress: Callable[[int], None] | None) -> Iterator[pa.RecordBatch]:
    """The batches; after each one is written, `progress(rows written so far)`."""
    done = 0
    for batch in batches:
        yield batch
        done += batch.num_rows
        if progress:
            progress(done)
