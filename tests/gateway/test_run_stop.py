"""A SIGTERM is a clean stop: the served gateway drains, then its process exits 0 with nothing on stderr;
a SIGHUP re-reads the virtual keys instead of ending the process (which lost what the sink held).

uvicorn raises the SIGTERM again once it has shut down, which with the default handler ends the
process killed by the signal (status 143 in a shell); and the start-up heap frozen out of the garbage
collector made DuckDB print "nanobind: leaked ..." at every normal exit. Both are checked in a child
process, since the first would end the test process itself.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from click.testing import CliRunner

from tokenomy.cli.main import cli
from tokenomy.errors import ConfigError
from tokenomy.gateway import Gateway, GatewaySettings
from tokenomy.gateway.key_store import create_key
from tokenomy.gateway.keys import KeyBook, VirtualKey, hash_key
from tokenomy.gateway.processes import ServerProcess
from tokenomy.gateway.run import drain_time, reload_keys
from tokenomy.schema import Attribution
from tokenomy.store import open_store

_CHILD = textwrap.dedent(
    """
    import os, signal, sys
    import duckdb  # noqa: F401  (its objects are alive at start-up, as the store's are in a real gateway)
    from tokenomy.gateway import Gateway, GatewaySettings, Route
    from tokenomy.gateway.run import serve

    routes = (Route(("*",), "openai", "http://127.0.0.1:9/v1", api_key="sk-route"),)
    serve(
        Gateway(GatewaySettings(routes=routes)),
        "127.0.0.1",
        0,
        drain_seconds=1,
        on_ready=lambda host, port: os.kill(os.getpid(), signal.SIGTERM),
    )
    print("serve returned", signal.getsignal(signal.SIGTERM) is signal.SIG_DFL)
    """
)


def test_a_sigterm_ends_serve_normally_and_restores_the_default_handler() -> None:
    done = subprocess.run(
        [sys.executable, "-c", _CHILD], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "serve returned True"
    assert "leaked" not in done.stderr
    assert done.stderr == ""


@pytest.mark.integration
def test_tokenomy_gateway_exits_0_on_sigterm_after_writing_its_calls(tmp_path: Path) -> None:
    config = tmp_path / "tokenomy.toml"
    config.write_text(
        "[gateway]\nrequire_keys = true\n[[gateway.route]]\n"
        'models = "*"\nkind = "openai"\nbase_url = "http://127.0.0.1:9/v1"\napi_key = "sk-x"\n'
    )
    store = tmp_path / "calls.duckdb"
    with open_store(store) as opened:
        issued = create_key(opened, Attribution(team="ops"))
    gateway = ServerProcess(["gateway", "--config", str(config), "--sink", f"duckdb:{store}"]).start()
    try:
        request = urllib.request.Request(
            gateway.base_url + "/v1/chat/completions",
            json.dumps({"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}).encode(),
            {"Content-Type": "application/json", "Authorization": f"Bearer {issued.key}"},
        )
        with pytest.raises(urllib.error.HTTPError) as refused:  # nothing listens on port 9: a 502
            urllib.request.urlopen(request, timeout=30)
        assert refused.value.code == 502
    finally:
        status = gateway.stop(60)
    assert status == 0
    assert "auth virtual keys required (1 known)" in gateway.stderr[0]
    assert not any("leaked" in line or "Traceback" in line for line in gateway.stderr)
    with open_store(store, read_only=True) as opened:
        [call] = list(opened.iter_calls())
    assert (call.error_type, call.attribution.team) == ("upstream_connect", "ops")


@pytest.mark.parametrize(("given", "timeout"), [(30.0, 30.0), (0.5, 0.5), (2.75, 2.75), (0.0, 0.001)])
def test_the_drain_time_keeps_its_fractions_and_0_does_not_time_out_an_empty_shutdown(
    given: float, timeout: float
) -> None:
    assert drain_time(given) == timeout


@pytest.mark.parametrize("given", [-5.0, float("nan")])
def test_a_negative_drain_time_is_refused(given: float) -> None:
    with pytest.raises(ConfigError, match="the drain time must be 0 seconds or more"):
        drain_time(given)


def test_the_cli_refuses_a_negative_drain_time_before_it_starts() -> None:
    result = CliRunner().invoke(cli, ["gateway", "--drain-seconds", "-5"])
    assert result.exit_code == 2
    assert "Invalid value for '--drain-seconds': -5.0 is not in the range x>=0." in result.output


_HANGUP_CHILD = textwrap.dedent(
    """
    import os, signal, threading
    from tokenomy.gateway import Gateway, GatewaySettings, Route
    from tokenomy.gateway.keys import KeyBook, VirtualKey, hash_key
    from tokenomy.gateway.run import serve
    from tokenomy.schema import Attribution

    loads = []
    before = signal.getsignal(signal.SIGHUP)  # SIG_DFL, or SIG_IGN under nohup: restored either way

    def loader():
        loads.append(1)
        return [VirtualKey(hash_key(f"tk-{i}"), Attribution(team="t")) for i in range(len(loads))]

    def ready(host, port):
        os.kill(os.getpid(), signal.SIGHUP)  # handled on the loop, after this callback
        threading.Timer(1.0, os.kill, (os.getpid(), signal.SIGTERM)).start()

    routes = (Route(("*",), "openai", "http://127.0.0.1:9/v1", api_key="sk-route"),)
    serve(Gateway(GatewaySettings(routes=routes), keys=KeyBook(loader)), "127.0.0.1", 0, on_ready=ready)
    print("loads", len(loads), signal.getsignal(signal.SIGHUP) is before)
    """
)


def test_a_sighup_reloads_the_keys_and_the_process_goes_on() -> None:
    done = subprocess.run(
        [sys.executable, "-c", _HANGUP_CHILD], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr == "tokenomy gateway: SIGHUP: virtual keys reloaded (1 known)\n"
    assert done.stdout.strip() == "loads 1 True"


def test_reload_keys_says_what_it_found(capsys: pytest.CaptureFixture[str]) -> None:
    known = [VirtualKey(hash_key("tk-a"), Attribution(team="a")), VirtualKey(hash_key("tk-b"), Attribution())]
    failing = [False]

    def loader() -> list[VirtualKey]:
        if failing[0]:
            raise OSError("the store is gone")
        return known

    gateway = Gateway(GatewaySettings(), keys=KeyBook(loader))
    assert reload_keys(gateway) == "tokenomy gateway: SIGHUP: virtual keys reloaded (2 known)"
    failing[0] = True
    assert reload_keys(gateway) == (
        "tokenomy gateway: SIGHUP: the virtual keys could not be reloaded (OSError: the store is gone); "
        "serving the 2 already known"
    )
    assert reload_keys(Gateway(GatewaySettings())) == (
        "tokenomy gateway: SIGHUP: this gateway checks no virtual keys; nothing to reload"
    )
    assert (
        capsys.readouterr().err.splitlines()[0] == "tokenomy gateway: SIGHUP: virtual keys reloaded (2 known)"
    )
