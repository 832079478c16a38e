"""Configuration as the broker loads it: defaults < TOML file < environment, errors naming the key, and the
config-file watcher's debounced reload."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from brokkr_broker_app.bootstrap import config_loader, config_path
from brokkr_broker_app.config_watch import ConfigFileWatcher
from brokkr_domain.model import Caller
from brokkr_domain.settings import ConfigError, load_settings


def test_defaults() -> None:
    settings = load_settings(None, {})
    assert (settings.broker.port, settings.broker.auth_cache_ttl_seconds, settings.log.level) == (
        3000,
        60,
        "info",
    )
    assert settings.broker.pak_hash is None  # no well-known admin key
    assert settings.cors.allowed_origins == ("http://localhost:3001",)
    assert settings.database.url is None  # the embedded PostgreSQL


def test_the_file_overrides_defaults_and_the_environment_overrides_the_file(tmp_path: Path) -> None:
    path = tmp_path / "brokkr.toml"
    path.write_text(
        '[broker]\nport = 4000\nwebhook_delivery_batch_size = 10\n[cors]\nallowed_origins = ["https://a.example"]\n'
        '[database]\nurl = "postgresql://file/db"\n'
    )
    env = {
        "BROKKR__BROKER__PORT": "5000",
        "BROKKR__CORS__ALLOWED_ORIGINS": "https://b.example, https://c.example",
        "BROKKR__LOG__LEVEL": "debug",
        "UNRELATED": "x",
    }
    settings = load_settings(path, env)
    assert settings.broker.port == 5000  # env beats file
    assert settings.broker.webhook_delivery_batch_size == 10  # file beats default
    assert settings.cors.allowed_origins == ("https://b.example", "https://c.example")
    assert settings.database.url == "postgresql://file/db"
    assert settings.log.level == "debug"
    assert settings.broker.auth_cache_ttl_seconds == 60  # untouched default


@pytest.mark.parametrize(
    ("env", "key"),
    [
        ({"BROKKR__BROKER__PORT": "http"}, "broker.port"),
        ({"BROKKR__BROKER__WEBHOOK_DELIVERY_BATCH_SIZE": "0"}, "webhook_delivery_batch_size"),
        ({"BROKKR__BROKER__PAK_HASH": "abc"}, "pak_hash"),
        ({"BROKKR__LOG__LEVEL": "loud"}, "level"),
        ({"BROKKR__AGENT__DEPLOYMENT_HEALTH_ENABLED": "maybe"}, "agent.deployment_health_enabled"),
        ({"BROKKR__BROKER__NO_SUCH_KEY": "1"}, "broker.no_such_key"),
    ],
)
def test_an_invalid_value_names_its_key(env: dict[str, str], key: str) -> None:
    with pytest.raises(ConfigError) as error:
        load_settings(None, env)
    assert key in error.value.message


def test_a_bad_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(tmp_path / "missing.toml", {})
    broken = tmp_path / "broken.toml"
    broken.write_text("[broker\nport = 1")
    with pytest.raises(ConfigError, match="cannot be read"):
        load_settings(broken, {})


def test_the_loader_follows_the_config_file_variable(tmp_path: Path) -> None:
    path = tmp_path / "b.toml"
    path.write_text("[broker]\nport = 4100\n")
    env = {"BROKKR_CONFIG_FILE": str(path)}
    assert config_path(None, env) == str(path)
    assert config_loader(None, env)().broker.port == 4100
    assert config_loader(str(path), {"BROKKR__BROKER__PORT": "4200"})().broker.port == 4200
    path.write_text("[broker]\nport = 4300\n")
    assert config_loader(None, env)().broker.port == 4300  # re-read on every call (reload)


def test_the_watcher_reloads_once_after_edits_settle(tmp_path: Path) -> None:
    path = tmp_path / "b.toml"
    path.write_text("[broker]\nport = 1\n")
    reloads: list[Caller] = []
    done = threading.Event()

    def reload(caller: Caller) -> None:
        reloads.append(caller)
        done.set()

    watcher = ConfigFileWatcher(str(path), reload, debounce=0.3, poll=0.05, environ={})
    watcher.start()
    try:
        time.sleep(0.1)
        for port in (2, 3, 4):  # an editor saving in several steps
            path.write_text(f"[broker]\nport = {port}\n# {'x' * port}\n")
            time.sleep(0.08)
        assert done.wait(3)
        time.sleep(0.5)
    finally:
        watcher.stop()
    assert len(reloads) == 1 and reloads[0].actor.kind.value == "system"


def test_the_watcher_can_be_turned_off(tmp_path: Path) -> None:
    watcher = ConfigFileWatcher(
        str(tmp_path / "b.toml"), lambda caller: None, environ={"BROKKR_CONFIG_WATCHER_ENABLED": "false"}
    )
    watcher.start()
    assert watcher._thread is None
    watcher.stop()


def test_a_failing_reload_does_not_stop_the_watcher(tmp_path: Path) -> None:
    path = tmp_path / "b.toml"
    path.write_text("a")
    calls: list[int] = []

    def reload(caller: Caller) -> None:
        calls.append(1)
        raise ConfigError("bad edit")

    watcher = ConfigFileWatcher(str(path), reload, debounce=0.1, poll=0.03, environ={})
    watcher.start()
    try:
        time.sleep(0.06)
        path.write_text("bb")
        time.sleep(0.4)
        path.write_text("ccc")
        deadline = time.monotonic() + 3
        while len(calls) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        watcher.stop()
    assert len(calls) == 2
