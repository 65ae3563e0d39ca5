"""The [gateway] table: routes by model glob, keys from the environment (never shown), clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from tokenomy.cli.main import cli
from tokenomy.errors import ConfigError
from tokenomy.gateway import load_gateway

CONFIG = """
[gateway]
require_keys = true
other_paths = "refuse"
read_timeout = 30

[[gateway.route]]
models = ["claude-*"]
kind = "anthropic"
base_url = "https://api.anthropic.com/"
api_key_env = "TEST_ANTHROPIC_KEY"

[[gateway.route]]
models = "*"
kind = "openai-compatible"
base_url = "http://127.0.0.1:9000/v1"
api_key = "sk-inline"
pass_client_key = true
"""


def test_routes_are_read_in_order(tmp_path: Path) -> None:
    path = tmp_path / "tokenomy.toml"
    path.write_text(CONFIG)
    settings = load_gateway(path, env={"TEST_ANTHROPIC_KEY": "sk-ant-secret"})
    claude, rest = settings.routes
    assert settings.require_keys is True
    assert settings.other_paths == "refuse"
    assert (claude.kind, claude.base_url, claude.api_key, claude.read_timeout) == (
        "anthropic",
        "https://api.anthropic.com",
        "sk-ant-secret",
        30.0,
    )
    assert "sk-ant-secret" not in repr(claude)
    assert settings.route_for("claude-opus-4-1") is claude
    assert settings.route_for("gpt-4o") is rest
    assert rest.pass_client_key is True


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ('[[gateway.route]]\nbase_url = "ftp://x"', "field 'base_url' must be an http:// or https:// URL"),
        ('[[gateway.route]]\nkind = "grpc"\nbase_url = "http://x"', "field 'kind' must be one of"),
        (
            '[[gateway.route]]\nbase_url = "http://x"\napi_key_env = "NOPE_UNSET"',
            "NOPE_UNSET (api_key_env) is not set",
        ),
        ('[gateway]\nother_paths = "drop"', "field 'other_paths' must be 'pass' or 'refuse'"),
        ("[gateway]\nread_timeout = 0", "field 'read_timeout' must be a positive number of seconds"),
        ("[gateway]\nrequire_keyz = true", "unknown field 'require_keyz' (did you mean 'require_keys'?)"),
        (
            '[[gateway.route]]\nbase_url = "http://x"\napi_key_evn = "OPENAI_API_KEY"',
            "gateway.route[0]: unknown field 'api_key_evn' (did you mean 'api_key_env'?)",
        ),
    ],
)
def test_bad_tables_say_where_and_what(tmp_path: Path, table: str, message: str) -> None:
    path = tmp_path / "tokenomy.toml"
    path.write_text(table)
    with pytest.raises(ConfigError) as raised:
        load_gateway(path, env={})
    assert message in str(raised.value)
    assert str(path) in str(raised.value)


def test_the_cli_commands_are_registered() -> None:
    runner = CliRunner()
    gateway = runner.invoke(cli, ["gateway", "--help"])
    keys = runner.invoke(cli, ["keys", "--help"])
    assert gateway.exit_code == 0
    assert "/v1/chat/completions" in gateway.output
    assert keys.exit_code == 0
    assert "create" in keys.output
    assert "revoke" in keys.output
