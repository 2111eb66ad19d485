"""Config: strict parsing, overrides, and every key documented."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pydantic import BaseModel

from fleetcost.config import Settings, load_settings
from fleetcost.errors import ConfigError

DOCS = Path(__file__).resolve().parents[2] / "docs" / "config.md"


def _keys(model: type[BaseModel]) -> set[str]:
    keys = set()
    for name, field in model.model_fields.items():
        keys.add(name)
        ann = field.annotation
        if isinstance(ann, type) and issubclass(ann, BaseModel):
            keys |= _keys(ann)
        for arg in getattr(ann, "__args__", ()):
            if isinstance(arg, type) and issubclass(arg, BaseModel):
                keys |= _keys(arg)
    return keys


def test_every_key_is_documented() -> None:
    text = DOCS.read_text()
    documented = set(re.findall(r"^\| `([a-z_0-9]+)` \|", text, flags=re.M))
    sections = set(re.findall(r"^## `\[([a-z_]+)", text, flags=re.M))
    missing = _keys(Settings) - documented - sections
    assert not missing, f"undocumented config keys: {sorted(missing)}"


def test_unknown_key_rejected(tmp_path: Path) -> None:
    cfg = tmp_path / "f.toml"
    cfg.write_text("[storage]\npaht = 'x.db'\n")
    with pytest.raises(ConfigError, match=r"storage\.paht"):
        load_settings(cfg)


def test_alias_must_name_a_provider(tmp_path: Path) -> None:
    cfg = tmp_path / "f.toml"
    cfg.write_text("[models.fast]\nprovider = 'nope'\n")
    with pytest.raises(ConfigError, match=r"models\.fast\.provider"):
        load_settings(cfg)


def test_upstream_override_and_env_db(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLEETCOST_DB", "/tmp/x.db")
    s = load_settings(None).with_upstreams({"openai": "http://127.0.0.1:9"})
    assert s.providers["openai"].base_url == "http://127.0.0.1:9"
    assert s.providers["anthropic"].base_url == "https://api.anthropic.com"
    assert s.storage.path == "/tmp/x.db"
    with pytest.raises(ConfigError, match="no provider named"):
        s.with_upstreams({"mistral": "http://x"})
