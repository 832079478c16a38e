"""CORS from settings, and hot reload applying the dynamic keys live (contract decision 3)."""

from __future__ import annotations

import time
from collections.abc import Callable

import attrs
import pytest

from brokerapp_support import Broker
from brokkr_domain.settings import ConfigError, CorsSettings, LogSettings, Settings

UI = "https://ui.example"


@pytest.fixture
def broker(make_broker: Callable[..., Broker], settings_for: Callable[..., Settings]) -> Broker:
    cors = CorsSettings(
        allowed_origins=(UI,),
        allowed_methods=("GET", "POST"),
        allowed_headers=("Authorization",),
        max_age_seconds=600,
    )
    return make_broker(settings_for(cors=cors))


def preflight(broker: Broker, origin: str, method: str = "GET") -> tuple[int, dict[str, str]]:
    response = broker.request(
        "OPTIONS",
        "/agents",
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": method,
            "Access-Control-Request-Headers": "authorization",
        },
    )
    return response.status_code, dict(response.headers)


def test_a_preflight_from_an_allowed_origin_needs_no_key(broker: Broker) -> None:
    status, headers = preflight(broker, UI)
    assert status == 200
    assert headers["access-control-allow-origin"] == UI
    assert headers["access-control-allow-methods"] == "GET, POST"
    assert headers["access-control-allow-headers"] == "Authorization"
    assert headers["access-control-max-age"] == "600"
    assert preflight(broker, "https://evil.example")[0] == 400
    assert preflight(broker, UI, method="DELETE")[0] == 400


def test_responses_carry_the_origin_only_when_allowed_even_errors(broker: Broker) -> None:
    allowed = broker.request("GET", "/agents", broker.admin, headers={"Origin": UI})
    assert allowed.headers["access-control-allow-origin"] == UI and "Origin" in allowed.headers["vary"]
    denied = broker.request("GET", "/agents", broker.admin, headers={"Origin": "https://evil.example"})
    assert denied.status_code == 200 and "access-control-allow-origin" not in denied.headers
    unauthenticated = broker.request("GET", "/agents", headers={"Origin": UI})
    assert unauthenticated.status_code == 401 and unauthenticated.headers["access-control-allow-origin"] == UI


def test_a_wildcard_allows_any_origin(
    make_broker: Callable[..., Broker], settings_for: Callable[..., Settings]
) -> None:
    broker = make_broker(settings_for(cors=CorsSettings(allowed_origins=("*",))))
    status, headers = preflight(broker, "https://anything.example")
    assert status == 200 and headers["access-control-allow-origin"] == "*"


def test_reloading_applies_dynamic_keys_live_and_reports_static_ones(broker: Broker) -> None:
    current = broker.source.settings
    new_cors = attrs.evolve(current.cors, allowed_origins=("https://new.example",), max_age_seconds=60)
    broker.source.settings = attrs.evolve(
        current,
        cors=new_cors,
        log=LogSettings(level="debug"),
        broker=attrs.evolve(current.broker, port=4000, auth_cache_ttl_seconds=5, pak_hash="a" * 64),
    )
    result = broker.ok("POST", "/admin/config/reload")
    assert result["success"] is True and result["reloaded_at"]
    changes = {c["key"]: c for c in result["changes"]}
    assert changes["cors.allowed_origins"]["old_value"] == f'["{UI}"]'
    assert changes["cors.allowed_origins"]["new_value"] == '["https://new.example"]'
    assert (changes["log.level"]["old_value"], changes["log.level"]["new_value"]) == ("info", "debug")
    assert changes["broker.port"]["applied"] is False and changes["cors.max_age_seconds"]["applied"] is True
    assert "broker.pak_hash" not in changes  # secrets are never echoed
    assert "restart required for: broker.port" in result["message"]
    assert preflight(broker, UI)[0] == 400
    status, headers = preflight(broker, "https://new.example")
    assert status == 200 and headers["access-control-max-age"] == "60"
    assert broker.app.state.auth_cache.ttl == 5.0
    assert broker.audit(action="config.reloaded")["logs"][0]["actor_type"] == "admin"


def test_a_reload_without_changes_says_so(broker: Broker) -> None:
    result = broker.ok("POST", "/admin/config/reload")
    assert (result["changes"], result["message"]) == ([], "No changes detected")


def test_an_invalid_configuration_is_refused_and_the_old_one_stays(broker: Broker) -> None:
    broker.source.error = ConfigError("broker.webhook_delivery_batch_size: expected an integer, got 'many'")
    response = broker.request("POST", "/admin/config/reload", broker.admin)
    assert response.status_code == 400 and response.json()["code"] == "invalid_configuration"
    assert "webhook_delivery_batch_size" in response.json()["message"]
    assert preflight(broker, UI)[0] == 200


def test_a_reload_reaches_every_other_broker_process(broker: Broker) -> None:
    other = broker.replica()  # another worker or replica on the same database
    with other.client:
        changed = attrs.evolve(
            broker.source.settings,
            cors=attrs.evolve(broker.source.settings.cors, allowed_origins=("https://fleet.example",)),
        )
        broker.source.settings = changed  # each process re-reads its own configuration
        other.source.settings = changed
        deadline = time.monotonic() + 10
        while other.container.live().current.cors.allowed_origins != ("https://fleet.example",):
            assert time.monotonic() < deadline, "the other process never reloaded"
            broker.ok("POST", "/admin/config/reload")  # it starts listening within a wait cycle of its start
            time.sleep(0.2)
        assert preflight(other, "https://fleet.example")[0] == 200
        broker.flush_audit()
        other.flush_audit()
        actors = {entry["actor_type"] for entry in broker.audit(action="config.reloaded")["logs"]}
        assert actors == {"admin"}, "only the process that answered audits the reload"
