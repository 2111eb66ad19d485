"""Append-only, named schema migrations for the SQLite ledger.

A migration, once released, is never edited: a schema change is a new entry
at the end. Each applied name is recorded in `_migrations`, so opening an
old database brings it forward and opening a current one does nothing.
Money columns are TEXT holding exact decimal strings; summing them is done in
Python with `Decimal`, never with SQL floats.
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime

from fleetcost.storage.rollup_sql import MIGRATION as M011_ROLLUP

MIGRATIONS: list[tuple[str, str]] = [
    (
        "m001_calls",
        """
        CREATE TABLE calls (
            call_id TEXT PRIMARY KEY,
            ts TEXT NOT NULL,
            tenant TEXT NOT NULL,
            agent_id TEXT,
            session_id TEXT,
            parent_id TEXT,
            task_type TEXT,
            requested_model TEXT,
            model TEXT,
            provider TEXT,
            input_tokens INTEGER NOT NULL DEFAULT 0,
            output_tokens INTEGER NOT NULL DEFAULT 0,
            cached_tokens INTEGER NOT NULL DEFAULT 0,
            cache_write_tokens INTEGER NOT NULL DEFAULT 0,
            cache_status TEXT NOT NULL DEFAULT 'none',
            response_cache TEXT NOT NULL DEFAULT 'bypass',
            cost_usd TEXT,
            saved_usd TEXT NOT NULL DEFAULT '0',
            latency_ms REAL,
            ttft_ms REAL,
            escalated INTEGER NOT NULL DEFAULT 0,
            outcome TEXT NOT NULL,
            route_reason TEXT,
            prefix_hash TEXT,
            system_tokens INTEGER,
            batch INTEGER NOT NULL DEFAULT 0,
            error TEXT
        );
        CREATE INDEX calls_ts ON calls (ts);
        CREATE INDEX calls_agent ON calls (agent_id, ts);
        CREATE INDEX calls_session ON calls (session_id);
        """,
    ),
    (
        # Opt-in request bodies for counterfactual replay (`[ledger] store_bodies`).
        "m006_planning",
        """
        CREATE TABLE call_bodies (
            call_id TEXT PRIMARY KEY,
            wire TEXT NOT NULL,
            body BLOB NOT NULL,
            redactions INTEGER NOT NULL DEFAULT 0
        )
        """,
    ),
    (
        # Money again as integer pico-dollars, so reports sum it in SQL, exactly
        # and fast; NULL when a value has more than 12 decimals (readers then
        # fall back to summing the decimal text). Backfilled from the text.
        "m008_report",
        """
        ALTER TABLE calls ADD COLUMN cost_pico INTEGER;
        ALTER TABLE calls ADD COLUMN saved_pico INTEGER;
        UPDATE calls SET
            cost_pico = CASE
                WHEN cost_usd IS NULL OR cost_usd LIKE '-%' THEN NULL
                WHEN instr(cost_usd, '.') = 0 THEN CAST(cost_usd AS INTEGER) * 1000000000000
                WHEN length(cost_usd) - instr(cost_usd, '.') > 12 THEN NULL
                ELSE CAST(substr(cost_usd, 1, instr(cost_usd, '.') - 1) AS INTEGER)
                    * 1000000000000
                + CAST(substr(substr(cost_usd, instr(cost_usd, '.') + 1) || '000000000000',
                              1, 12) AS INTEGER)
            END,
            saved_pico = CASE
                WHEN saved_usd IS NULL OR saved_usd LIKE '-%' THEN NULL
                WHEN instr(saved_usd, '.') = 0 THEN CAST(saved_usd AS INTEGER) * 1000000000000
                WHEN length(saved_usd) - instr(saved_usd, '.') > 12 THEN NULL
                ELSE CAST(substr(saved_usd, 1, instr(saved_usd, '.') - 1) AS INTEGER)
                    * 1000000000000
                + CAST(substr(substr(saved_usd, instr(saved_usd, '.') + 1) || '000000000000',
                              1, 12) AS INTEGER)
            END
        """,
    ),
    (
        # The few rows whose money has no pico-dollar twin, so reports can tell in
        # an index lookup whether the fast integer sums are exact for a range.
        "m009_report_inexact",
        """
        CREATE INDEX calls_inexact ON calls (ts)
            WHERE (cost_usd IS NOT NULL AND cost_pico IS NULL) OR saved_pico IS NULL
        """,
    ),
    (
        "m003_budgets",
        """
        ALTER TABLE calls ADD COLUMN output_cap INTEGER
        """,
    ),
    (
        "m002_prefix",
        """
        CREATE TABLE prefix_evidence (
            call_id TEXT PRIMARY KEY,
            session_id TEXT,
            previous_call_id TEXT NOT NULL,
            shared_tokens INTEGER NOT NULL,
            previous_tokens INTEGER NOT NULL,
            expected_cached_tokens INTEGER NOT NULL,
            stable_cached_tokens INTEGER NOT NULL,
            break_block INTEGER,
            break_offset_tokens INTEGER,
            break_region TEXT,
            span_kind TEXT,
            span_snippet TEXT,
            cache_write_1h_tokens INTEGER NOT NULL DEFAULT 0
        );
        CREATE INDEX calls_prefix ON calls (prefix_hash)
        """,
    ),
    (
        # Batch offload: items accepted for a provider batch, the jobs they were
        # submitted in (so a restarted poller resumes them), and dead letters.
        "m010_batch",
        """
        CREATE TABLE batch_items (
            item_id TEXT PRIMARY KEY,
            ts TEXT NOT NULL,
            state TEXT NOT NULL,
            provider TEXT NOT NULL,
            wire TEXT NOT NULL,
            model TEXT NOT NULL,
            requested_model TEXT,
            route_reason TEXT,
            identity TEXT NOT NULL,
            body BLOB NOT NULL,
            job_id TEXT,
            result BLOB,
            cost_usd TEXT,
            error TEXT,
            retry_of TEXT,
            group_id TEXT,
            custom_id TEXT,
            hold TEXT
        );
        CREATE INDEX batch_items_group ON batch_items (group_id);
        CREATE INDEX batch_items_queue ON batch_items (state, provider, model, ts);
        CREATE INDEX batch_items_job ON batch_items (job_id);
        CREATE TABLE batch_jobs (
            job_id TEXT PRIMARY KEY,
            provider TEXT NOT NULL,
            model TEXT NOT NULL,
            state TEXT NOT NULL,
            upstream_id TEXT,
            created_ts TEXT NOT NULL,
            ended_ts TEXT,
            upstream_status TEXT
        );
        CREATE TABLE batch_dead_letters (
            item_id TEXT PRIMARY KEY,
            kind TEXT NOT NULL,
            reason TEXT NOT NULL,
            ts TEXT NOT NULL,
            retried_as TEXT
        );
        CREATE TABLE batch_files (
            file_id TEXT PRIMARY KEY,
            ts TEXT NOT NULL,
            filename TEXT NOT NULL,
            purpose TEXT NOT NULL,
            content BLOB NOT NULL
        );
        CREATE TABLE batch_groups (
            group_id TEXT PRIMARY KEY,
            ts TEXT NOT NULL,
            input_file_id TEXT NOT NULL,
            endpoint TEXT NOT NULL,
            metadata TEXT
        )
        """,
    ),
    (
        "m004_routing",
        """
        CREATE TABLE shadow_evals (
            call_id TEXT NOT NULL,
            shadow_call_id TEXT NOT NULL,
            ts TEXT NOT NULL,
            tenant TEXT NOT NULL,
            task_type TEXT,
            weak_model TEXT,
            strong_model TEXT,
            similarity REAL NOT NULL,
            agree INTEGER NOT NULL
        );
        CREATE INDEX shadow_evals_task ON shadow_evals (task_type, ts)
        """,
    ),
    # Hourly and per-session aggregates kept by the ledger writer, backfilled
    # from every existing call (see rollup_sql).
    (
        # m008 read exponent text ("3.75E-7", which str(Decimal) wrote for costs
        # under a millionth of a dollar) as "3" plus digits: drop those twins so
        # readers sum the exact text instead. Runs before the aggregates are built.
        "m013_pico_exponent",
        """
        UPDATE calls SET cost_pico = NULL WHERE cost_usd LIKE '%e%';
        UPDATE calls SET saved_pico = NULL WHERE saved_usd LIKE '%e%'
        """,
    ),
    ("m011_rollup", M011_ROLLUP),
    # Batch items whose budget charge is not yet confirmed by the budget store
    # (a separate file): the poller settles them until it is. Items that ended
    # before this were charged right after their commit, so they count as settled.
    (
        "m015_batch_settle",
        """
        ALTER TABLE batch_items ADD COLUMN budget_settled INTEGER NOT NULL DEFAULT 0;
        UPDATE batch_items SET budget_settled = 1
            WHERE state IN ('succeeded', 'errored', 'expired', 'canceled');
        CREATE INDEX batch_items_unsettled ON batch_items (item_id)
            WHERE hold IS NOT NULL AND budget_settled = 0
        """,
    ),
    (
        # Calls whose usage the provider did not report are priced from an
        # offline count and flagged, so reports can tell estimated spend apart.
        "m014_usage_estimated",
        """
        ALTER TABLE calls ADD COLUMN usage_source TEXT NOT NULL DEFAULT 'provider'
        """,
    ),
]


def migrate(conn: sqlite3.Connection) -> list[str]:
    """Apply pending migrations; return the names applied."""
    conn.execute(
        "CREATE TABLE IF NOT EXISTS _migrations (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)"
    )
    done = {row[0] for row in conn.execute("SELECT name FROM _migrations")}
    applied = []
    for name, sql in MIGRATIONS:
        if name in done:
            continue
        with conn:
            for statement in filter(str.strip, sql.split(";")):
                conn.execute(statement)
            conn.execute(
                "INSERT INTO _migrations (name, applied_at) VALUES (?, ?)",
                (name, datetime.now(UTC).isoformat()),
            )
        applied.append(name)
    return applied
