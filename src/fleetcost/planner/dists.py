"""Per-call quantities (tokens, calls per task) as distributions.

A workload gives each quantity as a plain number, a fitted distribution or
an empirical sample (a column of a trace file or of the ledger). The cost
model needs two things from each: the exact mean for the expected bill, and
draws for the Monte Carlo spread per task. An empirical sample keeps its
exact mean (a sum of integers over a count); a fitted lognormal or Poisson
has the mean the workload states, so the expected bill stays exact and only
the spread is sampled.
"""

from __future__ import annotations

import csv
import math
import os
import random
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Protocol

import orjson

from fleetcost.errors import ConfigError


class Dist(Protocol):
    def mean(self) -> Decimal: ...

    def capped_mean(self, cap: int) -> Decimal: ...

    def draw(self, rng: random.Random) -> Decimal: ...


@dataclass(frozen=True, slots=True)
class Constant:
    value: Decimal

    def mean(self) -> Decimal:
        return self.value

    def capped_mean(self, cap: int) -> Decimal:
        return min(self.value, Decimal(cap))

    def draw(self, rng: random.Random) -> Decimal:
        return self.value


@dataclass(frozen=True, slots=True)
class Empirical:
    """A recorded sample: draws resample it, its mean is exact."""

    values: tuple[int, ...]

    def mean(self) -> Decimal:
        return Decimal(sum(self.values)) / len(self.values)

    def capped_mean(self, cap: int) -> Decimal:
        return Decimal(sum(min(v, cap) for v in self.values)) / len(self.values)

    def draw(self, rng: random.Random) -> Decimal:
        return Decimal(self.values[rng.randrange(len(self.values))])


@dataclass(frozen=True, slots=True)
class LogNormal:
    """Token counts are right-skewed: a lognormal with the stated mean and log-sd."""

    mean_value: Decimal
    sigma: float

    def mean(self) -> Decimal:
        return self.mean_value

    def _mu(self) -> float:
        return math.log(float(self.mean_value)) - self.sigma**2 / 2

    def capped_mean(self, cap: int) -> Decimal:
        # E[min(X, c)] in closed form; floats here, so the result is rounded to
        # 1e-9 token (a capped parametric mean is an estimate anyway).
        mu, s = self._mu(), self.sigma
        if s == 0:
            return min(self.mean_value, Decimal(cap))
        phi = lambda z: 0.5 * (1 + math.erf(z / math.sqrt(2)))  # noqa: E731
        lc = math.log(cap)
        value = math.exp(mu + s * s / 2) * phi((lc - mu - s * s) / s) + cap * (
            1 - phi((lc - mu) / s))
        return Decimal(f"{value:.9f}")

    def draw(self, rng: random.Random) -> Decimal:
        return Decimal(max(1, round(math.exp(rng.gauss(self._mu(), self.sigma)))))


@dataclass(frozen=True, slots=True)
class Poisson:
    """Calls per task: a count with the stated mean (at least one call)."""

    mean_value: Decimal

    def mean(self) -> Decimal:
        return self.mean_value

    def capped_mean(self, cap: int) -> Decimal:
        lam = float(self.mean_value)
        term, below, total = math.exp(-lam), 0.0, 0.0
        for k in range(cap):
            total += k * term
            below += term
            term *= lam / (k + 1)
        return Decimal(f"{total + cap * (1 - below):.9f}")

    def draw(self, rng: random.Random) -> Decimal:
        # Knuth's method: fine for the small means of agent loops.
        limit, k, p = math.exp(-float(self.mean_value)), 0, 1.0
        while True:
            p *= rng.random()
            if p <= limit:
                return Decimal(k)
            k += 1


def resolve(path: str, base: Path | None = None) -> Path:
    """`data:REL` names a file of the shared data folder (`$FLEETCOST_DATA` or
    `../shared/data`); a relative path is relative to the workload file."""
    if path.startswith("data:"):
        from fleetcost.fleet.trajectories import data_dir_candidates

        rel = path.removeprefix("data:")
        for root in data_dir_candidates(None, os.environ, Path.cwd()):
            if (root / rel).is_file():
                return root / rel
        raise ConfigError(f"sample {path}: not under the shared data folder; "
                          "set FLEETCOST_DATA to it")
    file = Path(path)
    return file if file.is_absolute() or base is None else base / file


def load_sample(path: str, column: str, where: dict[str, str] | None = None,
                limit: int = 200_000, base: Path | None = None) -> tuple[int, ...]:
    """Integers of `column` from a CSV, JSONL or fleetcost SQLite ledger file."""
    file = resolve(path, base)
    if not file.is_file():
        raise ConfigError(f"sample file {file} does not exist")
    if file.suffix in (".db", ".sqlite", ".sqlite3"):
        values = _from_ledger(file, column, where or {}, limit)
    elif file.suffix == ".jsonl":
        values = _from_jsonl(file, column, limit)
    else:
        values = _from_csv(file, column, limit)
    if not values:
        raise ConfigError(f"sample {path}: no values in column {column!r}")
    return tuple(values)


def _from_csv(file: Path, column: str, limit: int) -> list[int]:
    with file.open(newline="") as fh:
        reader = csv.DictReader(fh)
        if reader.fieldnames is None or column not in reader.fieldnames:
            raise ConfigError(f"sample {file}: no column {column!r} (has {reader.fieldnames})")
        out: list[int] = []
        for row in reader:
            out.append(int(float(row[column])))
            if len(out) >= limit:
                break
    return out


def _from_jsonl(file: Path, column: str, limit: int) -> list[int]:
    out: list[int] = []
    with file.open("rb") as fh:
        for line in fh:
            if line.strip():
                item = orjson.loads(line)
                if column in item:
                    out.append(int(item[column]))
            if len(out) >= limit:
                break
    return out


_LEDGER_COLUMNS = frozenset({"input_tokens", "output_tokens", "cached_tokens", "system_tokens"})
_LEDGER_FILTERS = frozenset({"task_type", "agent_id", "model", "tenant"})


def _from_ledger(file: Path, column: str, where: dict[str, str], limit: int) -> list[int]:
    if column not in _LEDGER_COLUMNS:
        raise ConfigError(f"ledger sample column must be one of {sorted(_LEDGER_COLUMNS)}")
    bad = set(where) - _LEDGER_FILTERS
    if bad:
        raise ConfigError(f"ledger sample filter {sorted(bad)}: use {sorted(_LEDGER_FILTERS)}")
    clauses = "".join(f" AND {k} = ?" for k in sorted(where))
    sql = f"SELECT {column} FROM calls WHERE {column} IS NOT NULL{clauses} LIMIT ?"
    conn = sqlite3.connect(f"file:{file}?mode=ro", uri=True)
    try:
        rows = conn.execute(sql, [*(where[k] for k in sorted(where)), limit]).fetchall()
    finally:
        conn.close()
    return [int(r[0]) for r in rows]


def percentile(sorted_values: Sequence[Decimal], q: int) -> Decimal:
    """Nearest-rank percentile: always one of the sampled values, so exact."""
    rank = max(1, math.ceil(q * len(sorted_values) / 100))
    return sorted_values[rank - 1]
