"""Test support for Brokkr and for code that embeds its domain.

- in-memory adapters of every repository port and of the unit of work (:class:`InMemoryUnitOfWorkFactory`);
- fakes of the small system ports (:class:`FakeClock`, :class:`SequentialIds`, :class:`PlainCipher`,
  :class:`RecordingAuditSink`);
- entity builders (``brokkr_domain.testing.builders``), hypothesis strategies
  (``brokkr_domain.testing.strategies``) and one contract suite per port
  (``brokkr_domain.testing.contracts``).

Needs the ``testing`` extra (hypothesis, pytest) for the strategies and the contract suites.
"""

from brokkr_domain.testing.fake_broker import FakeBrokerGateway
from brokkr_domain.testing.fake_cluster import FakeCluster
from brokkr_domain.testing.fakes import FakeClock, PlainCipher, RecordingAuditSink, SequentialIds
from brokkr_domain.testing.inmemory import InMemoryStore, InMemoryUnitOfWork, InMemoryUnitOfWorkFactory

__all__ = [
    "FakeBrokerGateway",
    "FakeClock",
    "FakeCluster",
    "InMemoryStore",
    "InMemoryUnitOfWork",
    "InMemoryUnitOfWorkFactory",
    "PlainCipher",
    "RecordingAuditSink",
    "SequentialIds",
]
