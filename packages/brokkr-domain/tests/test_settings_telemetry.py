"""``telemetry.<component>.*`` overrides: a set key wins, an unset (or empty) one inherits the top level.

The broker and the agent read their tracing settings through ``for_component``; these properties pin the
inheritance rule for every combination of set and unset keys, directly and through the file < environment
layering of ``load_settings``.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from brokkr_domain.settings import (
    ConfigError,
    Telemetry,
    TelemetryComponent,
    TelemetrySettings,
    load_settings,
)

names = st.text(alphabet="abcdefghijklmnopqrstuvwxyz-0123456789", min_size=1, max_size=20)
endpoints = st.builds(lambda host, port: f"http://{host}:{port}", names, st.integers(1, 65535))
rates = st.floats(min_value=0.0, max_value=10.0, allow_nan=False)
components = st.builds(
    TelemetryComponent,
    enabled=st.none() | st.booleans(),
    otlp_endpoint=st.none() | st.just("") | endpoints,
    service_name=st.none() | st.just("") | names,
    sampling_rate=st.none() | rates,
)
telemetries = st.builds(
    TelemetrySettings,
    enabled=st.booleans(),
    otlp_endpoint=endpoints,
    service_name=names,
    sampling_rate=rates,
    broker=components,
    agent=components,
)


def expected(top: TelemetrySettings, own: TelemetryComponent) -> Telemetry:
    return Telemetry(
        enabled=top.enabled if own.enabled is None else own.enabled,
        otlp_endpoint=own.otlp_endpoint if own.otlp_endpoint else top.otlp_endpoint,
        service_name=own.service_name if own.service_name else top.service_name,
        sampling_rate=top.sampling_rate if own.sampling_rate is None else own.sampling_rate,
    )


@given(telemetries)
def test_each_component_key_wins_when_set_and_inherits_otherwise(top: TelemetrySettings) -> None:
    assert top.for_component("broker") == expected(top, top.broker)
    assert top.for_component("agent") == expected(top, top.agent)


@given(telemetries, st.floats(max_value=-1e-9, min_value=-1e6, allow_nan=False))
def test_a_negative_component_rate_is_refused(top: TelemetrySettings, rate: float) -> None:
    broken = TelemetrySettings(
        enabled=top.enabled, sampling_rate=top.sampling_rate, broker=TelemetryComponent(sampling_rate=rate)
    )
    with pytest.raises(ConfigError, match=r"telemetry\.broker\.sampling_rate"):
        broken.for_component("broker")
    assert broken.for_component("agent").sampling_rate == top.sampling_rate


def test_defaults_are_off_with_a_service_name_per_component() -> None:
    broker = TelemetrySettings().for_component("broker")
    assert broker == Telemetry(
        enabled=False, otlp_endpoint="http://localhost:4317", service_name="brokkr-broker", sampling_rate=0.1
    )
    assert TelemetrySettings().for_component("agent").service_name == "brokkr-agent"


@given(
    enabled=st.booleans(),
    rate=rates,
    broker_enabled=st.none() | st.booleans(),
    broker_rate=st.none() | rates,
    broker_endpoint=st.none() | st.just("") | endpoints,
)
def test_environment_overrides_layer_per_component(
    enabled: bool,
    rate: float,
    broker_enabled: bool | None,
    broker_rate: float | None,
    broker_endpoint: str | None,
) -> None:
    env = {"BROKKR__TELEMETRY__ENABLED": str(enabled).lower(), "BROKKR__TELEMETRY__SAMPLING_RATE": repr(rate)}
    if broker_enabled is not None:
        env["BROKKR__TELEMETRY__BROKER__ENABLED"] = "on" if broker_enabled else "off"
    if broker_rate is not None:
        env["BROKKR__TELEMETRY__BROKER__SAMPLING_RATE"] = repr(broker_rate)
    if broker_endpoint is not None:
        env["BROKKR__TELEMETRY__BROKER__OTLP_ENDPOINT"] = broker_endpoint

    telemetry = load_settings(None, env).telemetry

    broker = telemetry.for_component("broker")
    assert broker.enabled is (enabled if broker_enabled is None else broker_enabled)
    assert broker.sampling_rate == (rate if broker_rate is None else broker_rate)
    assert broker.otlp_endpoint == (broker_endpoint or "http://localhost:4317")
    assert broker.service_name == "brokkr-broker"  # the component default survives a partial override
    agent = telemetry.for_component("agent")
    assert (agent.enabled, agent.sampling_rate, agent.service_name) == (enabled, rate, "brokkr-agent")


def test_the_environment_wins_over_the_file_for_one_component_key(tmp_path: Path) -> None:
    config = tmp_path / "brokkr.toml"
    config.write_text(
        "[telemetry]\nenabled = true\nsampling_rate = 0.5\n"
        '[telemetry.broker]\nsampling_rate = 0.25\nservice_name = "broker-from-file"\n',
        encoding="utf-8",
    )

    telemetry = load_settings(config, {"BROKKR__TELEMETRY__BROKER__SAMPLING_RATE": "1.0"}).telemetry

    assert telemetry.for_component("broker") == Telemetry(
        enabled=True,
        otlp_endpoint="http://localhost:4317",
        service_name="broker-from-file",
        sampling_rate=1.0,
    )
    assert telemetry.for_component("agent").sampling_rate == 0.5


def test_a_negative_rate_in_the_environment_names_its_key() -> None:
    with pytest.raises(ConfigError, match=r"telemetry\.sampling_rate"):
        load_settings(None, {"BROKKR__TELEMETRY__SAMPLING_RATE": "-0.5"})
