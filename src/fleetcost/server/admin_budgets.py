"""Admin budgets API: `/fleetcost/v1/budgets` (list, create) and `/budgets/{name}` (update).

Same admin key rule as the rest of the admin API. Created and updated
budgets take effect on the next call and are saved in the budget store, so
they survive a restart (a saved budget replaces the config's budget of the
same name). Other replicas sharing the store pick them up when they start.
A budget keeps its spend when its limits change, because its buckets are
keyed by its name.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

import orjson
from pydantic import ValidationError

from fleetcost.config import BudgetConfig
from fleetcost.pipeline.budget_report import describe_all
from fleetcost.pipeline.budget_rules import compile_rules
from fleetcost.pipeline.state import Reply
from fleetcost.server.admin import PREFIX, _authorised, _error
from fleetcost.server.handlers import Handler
from fleetcost.server.io import Scope

if TYPE_CHECKING:
    from fleetcost.server.app import GatewayApp

JSON = (b"content-type", b"application/json")
PATH = PREFIX + "budgets"


def _invalid(exc: ValidationError) -> Reply:
    err = exc.errors()[0]
    where = ".".join(str(p) for p in err["loc"]) or "body"
    return _error(400, f"{where}: {err['msg']}")


def _body(body: bytes) -> dict[str, Any] | Reply:
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        return _error(400, "body must be a JSON object describing a budget")
    if not isinstance(data, dict):
        return _error(400, "body must be a JSON object describing a budget")
    return data


def _listing(app: GatewayApp) -> list[dict[str, Any]]:
    return describe_all(app.ctx.budget_rules, app.stores.budgets)


def route_table(app: GatewayApp) -> dict[tuple[str, str], Handler]:
    async def list_budgets(scope: Scope, body: bytes) -> Reply:
        if not _authorised(app, scope):
            return _error(401, "admin API: missing or wrong admin key")
        data = await asyncio.to_thread(_listing, app)
        return Reply(200, [JSON], orjson.dumps(data))

    async def create(scope: Scope, body: bytes) -> Reply:
        if not _authorised(app, scope):
            return _error(401, "admin API: missing or wrong admin key")
        data = _body(body)
        if isinstance(data, Reply):
            return data
        try:
            cfg = BudgetConfig.model_validate(data)
        except ValidationError as exc:
            return _invalid(exc)
        configs = [r.config.model_copy(update={"name": r.name}) for r in app.ctx.budget_rules]
        rules = compile_rules([*configs, cfg])
        if cfg.name is not None and rules[-1].name != cfg.name:
            return _error(409, f"a budget named {cfg.name!r} exists; update it with PUT")
        app.ctx.budget_rules = rules
        await asyncio.to_thread(app.stores.budgets.save_rule, rules[-1].name,
                                rules[-1].config.model_dump_json())
        return Reply(201, [JSON], orjson.dumps({"name": rules[-1].name}))

    return {("GET", PATH): list_budgets, ("POST", PATH): create}


def match_prefix(app: GatewayApp, scope: Scope) -> Handler | None:
    """`PUT|PATCH /fleetcost/v1/budgets/{name}`: change some keys of one budget."""
    path: str = scope["path"]
    if scope["method"] not in ("PUT", "PATCH") or not path.startswith(PATH + "/"):
        return None
    name = unquote(path[len(PATH) + 1:])

    async def update(scope: Scope, body: bytes) -> Reply:
        if not _authorised(app, scope):
            return _error(401, "admin API: missing or wrong admin key")
        data = _body(body)
        if isinstance(data, Reply):
            return data
        rules = list(app.ctx.budget_rules)
        index = next((i for i, r in enumerate(rules) if r.name == name), None)
        if index is None:
            return _error(404, f"no budget named {name!r}; create it with POST {PATH}")
        merged = {**rules[index].config.model_dump(exclude_none=True), **data, "name": name}
        try:
            cfg = BudgetConfig.model_validate(merged)
        except ValidationError as exc:
            return _invalid(exc)
        configs = [r.config.model_copy(update={"name": r.name}) for r in rules]
        configs[index] = cfg
        app.ctx.budget_rules = compile_rules(configs)
        await asyncio.to_thread(app.stores.budgets.save_rule, name, cfg.model_dump_json())
        return Reply(200, [JSON], orjson.dumps({"name": name}))

    return update
