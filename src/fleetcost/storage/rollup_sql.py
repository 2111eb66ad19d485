"""The ledger's aggregates: their tables and the one SQL that fills them.

Why: a report or a dashboard page over a million calls cannot read a million
rows and stay under a second. The ledger writer therefore keeps, in the same
transaction as the calls it inserts, integer sums that reports read instead:

- `rollup_hourly`: per clock hour (`substr(ts, 1, 13)`) and per grouping
  (`dim` = '' for the whole ledger, agent, task, model, tenant, provider, and
  `sess0` for calls with no session), the additive figures of `GroupTotals`
  with money as pico-dollar integers (one saving column per lever).
- `rollup_daily`: the same sums per day (`substr(ts, 1, 10)`), so a month
  reads 30 rows per key, not 720.
- `agent_hours` in those rows: how many distinct (agent, hour) pairs the
  row's calls have. Hours are disjoint, so these add up over hours and days.
  A pair is counted when first seen: for the whole ledger and per agent,
  when its hour has no `agent` row yet; for the other groupings, when
  `rollup_agent_hours` (the distinct (group, hour, agent) triples) lacks it.
- `rollup_sessions`: one row per root session (after the sub-agent roll-up)
  with the same sums, its agent-hours and its first and last call time;
  `rollup_session_keys` the distinct (grouping key, session) pairs with a
  failed flag (a grouping's session counts are row counts), and
  `rollup_session_hours` the distinct (session, hour, agent) triples behind
  a session's agent-hours.
- `rollup_roots`: a sub-agent call's session and task after the roll-up to its
  root ancestor (only calls whose root is another call have a row).

Keys that are NULL in the ledger are stored as the empty blob X'' (a blob
never equals text, and WITHOUT ROWID keys cannot be NULL).

Every aggregate is built by one statement per target from a temp table
`_rollup_src` (one row per call, keys already rolled up): the migration
fills it with the whole ledger, the writer with its batch, a recompute with
the calls of an hour or a session. One SQL, three uses, so they cannot drift.
Note: `m011_rollup` is composed from these constants; changing them later
needs a new migration, never an edit of what m011 ran.
"""

from __future__ import annotations

MEASURES: tuple[str, ...] = (
    "calls", "input_tokens", "cached_tokens", "cache_write_tokens", "output_tokens",
    "unpriced_calls", "failed_calls", "response_hits", "response_misses", "prefix_hit_calls",
    "escalated_calls", "cost_pico", "saved_exact", "saved_semantic", "saved_routing", "inexact",
)
FAILED = "('error', 'budget_exceeded', 'loop_detected')"
# (dim, key expression over _rollup_src, row filter)
HOURLY_DIMS: tuple[tuple[str, str, str], ...] = (
    ("", "''", "1"), ("agent", "agent", "1"), ("task", "task", "1"), ("model", "model", "1"),
    ("tenant", "tenant", "1"), ("provider", "provider", "1"), ("sess0", "''", "session IS NULL"),
)
SESSION_DIMS: tuple[tuple[str, str], ...] = (
    ("agent", "agent"), ("task", "task"), ("model", "model"), ("tenant", "tenant"),
    ("provider", "provider"), ("day", "substr(hour, 1, 10)"), ("hour", "hour"),
)

# One call, its keys rolled up to its root, its figures as integers.
SOURCE = f"""
SELECT substr(c.ts, 1, 13), c.ts, c.agent_id, COALESCE(r.task_key, c.task_type),
    COALESCE(c.model, c.requested_model), c.tenant, c.provider,
    COALESCE(r.session_key, c.session_id), 1, c.input_tokens, c.cached_tokens,
    c.cache_write_tokens, c.output_tokens, c.cost_usd IS NULL, c.outcome IN {FAILED},
    c.response_cache IN ('exact', 'semantic'), c.response_cache = 'miss',
    c.cache_status = 'hit', c.escalated, c.cost_pico,
    CASE WHEN c.response_cache = 'exact' THEN c.saved_pico ELSE 0 END,
    CASE WHEN c.response_cache = 'semantic' THEN c.saved_pico ELSE 0 END,
    CASE WHEN c.response_cache NOT IN ('exact', 'semantic') THEN c.saved_pico ELSE 0 END,
    (c.cost_usd IS NOT NULL AND c.cost_pico IS NULL) OR c.saved_pico IS NULL
"""
SRC_COLUMNS = "hour, ts, agent, task, model, tenant, provider, session, " + ", ".join(MEASURES)
SUMS = ", ".join(f"COALESCE(SUM({m}), 0)" for m in MEASURES)
_ADD = ", ".join(f"{m} = {m} + excluded.{m}" for m in MEASURES)
_M_COLS = ", ".join(f"{m} INTEGER NOT NULL DEFAULT 0" for m in MEASURES)
_AH = "agent_hours INTEGER NOT NULL DEFAULT 0"

TABLES = f"""
CREATE TABLE IF NOT EXISTS rollup_hourly (dim TEXT NOT NULL, hour TEXT NOT NULL, key NOT NULL,
    {_M_COLS}, {_AH}, PRIMARY KEY (dim, hour, key)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS rollup_daily (dim TEXT NOT NULL, day TEXT NOT NULL, key NOT NULL,
    {_M_COLS}, {_AH}, PRIMARY KEY (dim, day, key)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS rollup_agent_hours (dim TEXT NOT NULL, hour TEXT NOT NULL,
    key NOT NULL, agent TEXT NOT NULL, PRIMARY KEY (dim, hour, key, agent)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS rollup_sessions (session TEXT NOT NULL PRIMARY KEY, {_M_COLS},
    {_AH}, first_ts TEXT NOT NULL, last_ts TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS rollup_session_keys (dim TEXT NOT NULL, key NOT NULL,
    session TEXT NOT NULL, failed INTEGER NOT NULL, PRIMARY KEY (dim, key, session))
    WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS rollup_session_keys_session ON rollup_session_keys
    (session, dim, failed);
CREATE TABLE IF NOT EXISTS rollup_session_hours (session TEXT NOT NULL, hour TEXT NOT NULL,
    agent TEXT NOT NULL, PRIMARY KEY (session, hour, agent)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS rollup_roots (call_id TEXT PRIMARY KEY, session_key, task_key);
CREATE INDEX IF NOT EXISTS rollup_roots_session ON rollup_roots (session_key);
CREATE INDEX IF NOT EXISTS calls_parent ON calls (parent_id) WHERE parent_id IS NOT NULL
"""
SRC_TABLE = f"CREATE TEMP TABLE IF NOT EXISTS _rollup_src ({SRC_COLUMNS})"
NEW_TABLE = "CREATE TEMP TABLE IF NOT EXISTS _rollup_new (dim, hour, key, agent)"
FILL = (f"INSERT INTO _rollup_src {SOURCE} "
        "FROM calls c LEFT JOIN rollup_roots r ON r.call_id = c.call_id")


def _hourly(dim: str, key: str, where: str) -> str:
    return (f"INSERT INTO rollup_hourly (dim, hour, key, {', '.join(MEASURES)}) "
            f"SELECT '{dim}', hour, COALESCE({key}, X''), {SUMS} FROM _rollup_src "
            f"WHERE {where} GROUP BY 2, 3 ON CONFLICT (dim, hour, key) DO UPDATE SET {_ADD}")


def _daily(dim: str, key: str, where: str) -> str:
    return (f"INSERT INTO rollup_daily (dim, day, key, {', '.join(MEASURES)}) "
            f"SELECT '{dim}', substr(hour, 1, 10), COALESCE({key}, X''), {SUMS} FROM _rollup_src "
            f"WHERE {where} GROUP BY 2, 3 ON CONFLICT (dim, day, key) DO UPDATE SET {_ADD}")


# A day's rows again from its hours (after those were rebuilt).
DAY_FROM_HOURS = (
    f"INSERT INTO rollup_daily (dim, day, key, {', '.join(MEASURES)}, agent_hours) "
    f"SELECT dim, substr(hour, 1, 10), key, {', '.join(f'SUM({m})' for m in MEASURES)}, "
    "SUM(agent_hours) "
    "FROM rollup_hourly WHERE dim = ? AND hour >= ? AND hour < ? AND substr(hour, 1, 10) = ? "
    "GROUP BY 2, 3")


def _new_agent_hours(dim: str, key: str, where: str) -> str:
    """The batch's (group, hour, agent) triples not seen before, into `_rollup_new`.

    An agent-hour is new to the whole ledger and to its agent when the hour has
    no `agent` row for that agent yet (so this must run before the upserts);
    for the other groupings, when `rollup_agent_hours` lacks the triple.
    """
    if dim in ("", "agent"):
        k = "s.agent" if dim == "agent" else "''"
        return (f"INSERT INTO _rollup_new SELECT DISTINCT '{dim}', s.hour, {k}, s.agent "
                "FROM _rollup_src s WHERE s.agent IS NOT NULL AND NOT EXISTS (SELECT 1 FROM "
                "rollup_hourly h WHERE h.dim = 'agent' AND h.hour = s.hour AND h.key = s.agent)")
    return (f"INSERT INTO _rollup_new SELECT DISTINCT '{dim}', s.hour, COALESCE({key}, X''), "
            f"s.agent FROM _rollup_src s WHERE s.agent IS NOT NULL AND {where} AND NOT EXISTS "
            f"(SELECT 1 FROM rollup_agent_hours a WHERE a.dim = '{dim}' AND a.hour = s.hour "
            f"AND a.key = COALESCE({key}, X'') AND a.agent = s.agent)")


# New agent-hours add to the counters (agent-hours of different hours add up).
_AH_TARGETS = (
    "INSERT INTO rollup_hourly (dim, hour, key, agent_hours) SELECT dim, hour, key, COUNT(*) "
    "FROM _rollup_new GROUP BY 1, 2, 3 ON CONFLICT (dim, hour, key) "
    "DO UPDATE SET agent_hours = agent_hours + excluded.agent_hours",
    "INSERT INTO rollup_daily (dim, day, key, agent_hours) SELECT dim, substr(hour, 1, 10), key, "
    "COUNT(*) FROM _rollup_new GROUP BY 1, 2, 3 ON CONFLICT (dim, day, key) "
    "DO UPDATE SET agent_hours = agent_hours + excluded.agent_hours",
    "INSERT OR IGNORE INTO rollup_agent_hours (dim, hour, key, agent) "
    "SELECT dim, hour, key, agent FROM _rollup_new WHERE dim NOT IN ('', 'agent')",
)


def _session_keys(dim: str, key: str) -> str:
    return ("INSERT INTO rollup_session_keys (dim, key, session, failed) "
            f"SELECT '{dim}', COALESCE({key}, X''), session, MAX(failed_calls) FROM _rollup_src "
            "WHERE session IS NOT NULL GROUP BY 2, 3 ON CONFLICT (dim, key, session) "
            "DO UPDATE SET failed = MAX(failed, excluded.failed)")


HOUR_TARGETS: tuple[str, ...] = (
    "DELETE FROM _rollup_new",
    *(_new_agent_hours(d, k, w) for d, k, w in HOURLY_DIMS),
    *(_hourly(d, k, w) for d, k, w in HOURLY_DIMS),
    *(_daily(d, k, w) for d, k, w in HOURLY_DIMS),
    *_AH_TARGETS,
)
SESSION_TARGETS: tuple[str, ...] = (
    f"INSERT INTO rollup_sessions (session, {', '.join(MEASURES)}, first_ts, last_ts) "
    f"SELECT session, {SUMS}, MIN(ts), MAX(ts) FROM _rollup_src WHERE session IS NOT NULL "
    f"GROUP BY session ON CONFLICT (session) DO UPDATE SET {_ADD}, "
    "first_ts = MIN(first_ts, excluded.first_ts), last_ts = MAX(last_ts, excluded.last_ts)",
    *(_session_keys(d, k) for d, k in SESSION_DIMS),
    # New (session, hour, agent) triples add to the session's agent-hours, then are kept.
    "UPDATE rollup_sessions SET agent_hours = agent_hours + n.c FROM (SELECT session, COUNT(*) "
    "AS c FROM (SELECT DISTINCT s.session, s.hour, s.agent FROM _rollup_src s WHERE "
    "s.session IS NOT NULL AND s.agent IS NOT NULL AND NOT EXISTS (SELECT 1 FROM "
    "rollup_session_hours h WHERE h.session = s.session AND h.hour = s.hour AND "
    "h.agent = s.agent)) GROUP BY session) AS n WHERE rollup_sessions.session = n.session",
    "INSERT OR IGNORE INTO rollup_session_hours (session, hour, agent) SELECT DISTINCT "
    "session, hour, agent FROM _rollup_src WHERE session IS NOT NULL AND agent IS NOT NULL",
)

# Roots as the reference defines them: walk up `parent_id` while the parent is
# in the ledger and not already on the path (so a cycle stops); the last call
# reached is the root. char(31) separates ids on the path.
ROOTS_BACKFILL = """
INSERT INTO rollup_roots (call_id, session_key, task_key)
WITH RECURSIVE walk (call_id, cur, parent, depth, path) AS (
    SELECT call_id, call_id, parent_id, 0, char(31) || call_id || char(31)
    FROM calls WHERE parent_id IS NOT NULL
    UNION ALL
    SELECT w.call_id, p.call_id, p.parent_id, w.depth + 1, w.path || p.call_id || char(31)
    FROM walk w JOIN calls p ON p.call_id = w.parent
    WHERE instr(w.path, char(31) || p.call_id || char(31)) = 0
), top AS (SELECT call_id, cur, MAX(depth) AS depth FROM walk GROUP BY call_id)
SELECT t.call_id, COALESCE(root.session_id, c.session_id), COALESCE(root.task_type, c.task_type)
FROM top t JOIN calls c ON c.call_id = t.call_id JOIN calls root ON root.call_id = t.cur
WHERE t.depth > 0
"""



def _pico_of(col: str) -> str:
    """Decimal text -> integer pico-dollars, for plain text only (see `_REPICO`)."""
    return (f"CASE WHEN instr({col}, '.') = 0 THEN CAST({col} AS INTEGER) * 1000000000000 "
            f"WHEN length({col}) - instr({col}, '.') > 12 THEN NULL "
            f"ELSE CAST(substr({col}, 1, instr({col}, '.') - 1) AS INTEGER) * 1000000000000 "
            f"+ CAST(substr(substr({col}, instr({col}, '.') + 1) || '000000000000', 1, 12) "
            "AS INTEGER) END")


def _plain(col: str) -> str:
    """Digits with at most one point, under a million dollars (no exponent, no overflow)."""
    return (f"{col} GLOB '[0-9]*' AND {col} NOT GLOB '*[^0-9.]*' AND {col} NOT GLOB '*.*.*' "
            f"AND length(CASE WHEN instr({col}, '.') = 0 THEN {col} "
            f"ELSE substr({col}, 1, instr({col}, '.') - 1) END) <= 6")


# Calls written without pico-dollar twins (the batch store did, until m011) get
# them where the text is a plain decimal, so their ranges can use the aggregates.
# Exponent text ('3.75E-7', which str(Decimal) writes below a millionth) is left
# alone: those calls keep the exact Decimal path.
_REPICO = (
    f"UPDATE calls SET cost_pico = {_pico_of('cost_usd')} WHERE cost_usd IS NOT NULL "
    f"AND cost_pico IS NULL AND {_plain('cost_usd')}",
    f"UPDATE calls SET saved_pico = {_pico_of('saved_usd')} WHERE saved_pico IS NULL "
    f"AND {_plain('saved_usd')}",
)

# The migration: tables, then every existing call through the same targets.
MIGRATION = ";\n".join((
    TABLES,
    "DELETE FROM rollup_roots", "DELETE FROM rollup_hourly", "DELETE FROM rollup_daily",
    "DELETE FROM rollup_agent_hours",
    "DELETE FROM rollup_sessions", "DELETE FROM rollup_session_keys",
    "DELETE FROM rollup_session_hours",
    *_REPICO, ROOTS_BACKFILL, SRC_TABLE, NEW_TABLE, "DELETE FROM _rollup_src", FILL + " WHERE 1",
    *HOUR_TARGETS, *SESSION_TARGETS, "DROP TABLE _rollup_src", "DROP TABLE _rollup_new",
))
