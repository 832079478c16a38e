"""A broker killed with SIGKILL while a webhook POST is in flight: after a restart the same delivery (same
delivery id header, byte-identical payload, so the same event id) is sent again and recorded as delivered.

The killed broker never reports its attempt; its claim is a lease sized from the subscription's timeout
(``rules.deliveries.attempt_lease``: timeout + margin), so the restarted broker takes the delivery again once the
lease has run out. The subscription's 2 s timeout keeps that to about 12 s.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from uuid import UUID

import httpx
import pytest

from brokerapp_faults_support import HoldingReceiver, ServedBroker
from brokkr_domain.model import DeliveryStatus
from brokkr_domain.rules.deliveries import attempt_lease

TIMEOUT_SECONDS = 2


@pytest.fixture
def served(fresh_database_url: str, tmp_path: Path) -> Iterator[ServedBroker]:
    broker = ServedBroker(
        fresh_database_url, tmp_path / "data", {"BROKKR__BROKER__WEBHOOK_DELIVERY_INTERVAL_SECONDS": "1"}
    )
    yield broker
    broker.kill()


def _deliveries(served: ServedBroker, hook_id: str) -> list[dict[str, Any]]:
    answer = httpx.get(f"{served.base}/api/v1/webhooks/{hook_id}/deliveries", headers=served.headers())
    assert answer.status_code == 200, answer.text
    result: list[dict[str, Any]] = answer.json()
    return result


def test_a_delivery_cut_off_by_sigkill_is_sent_again_after_restart(served: ServedBroker) -> None:
    with HoldingReceiver(holding=True) as receiver:
        served.start()
        admin = served.headers()
        hook = httpx.post(
            f"{served.base}/api/v1/webhooks",
            headers=admin,
            json={
                "name": "crash",
                "url": receiver.url,
                "event_types": ["agent.registered"],
                "timeout_seconds": TIMEOUT_SECONDS,
            },
        ).json()
        agent = httpx.post(
            f"{served.base}/api/v1/agents", headers=admin, json={"name": "a", "cluster_name": "c"}
        )
        assert agent.status_code == 200
        assert receiver.wait_for(1, timeout=10), served.log()  # the POST is in flight, held by the receiver
        served.kill()
        killed_at = time.monotonic()
        receiver.release()  # from now on it answers 200 at once

        delivery_id = UUID(receiver.received[0].headers["x-brokkr-delivery-id"])
        with served.open_database() as db, db.uow() as uow:  # what the dead broker left behind
            held = uow.deliveries.get(delivery_id)
        assert held is not None and (held.status, held.attempts) == (DeliveryStatus.ACQUIRED, 0)
        lease = attempt_lease(TIMEOUT_SECONDS).total_seconds()

        served.start()
        assert receiver.wait_for(2, timeout=lease + 10), served.log()
        redelivered_after = time.monotonic() - killed_at

        first, second = receiver.received[:2]
        assert second.body == first.body  # byte for byte: the same event id for the receiver to dedupe on
        assert (
            second.headers["x-brokkr-delivery-id"]
            == first.headers["x-brokkr-delivery-id"]
            == str(delivery_id)
        )
        assert json.loads(second.body)["event_type"] == "agent.registered"
        deadline = time.monotonic() + 10
        while (done := _deliveries(served, hook["id"])[0])["status"] != "success":
            assert time.monotonic() < deadline, done
            time.sleep(0.1)
        assert done["attempts"] == 1 and done["id"] == str(delivery_id)
        assert len(receiver.received) == 2  # delivered, so not sent a third time
        assert served.terminate() == 0
    print(f"\nredelivered {redelivered_after:.1f} s after the SIGKILL (lease {lease:.0f} s from the claim)")
