"""A faithful fake Kubernetes API server for tests and demos (plain HTTP on loopback).

Driven by the real ``kubernetes`` client: discovery, server-side apply with managed fields,
merge/JSON patches, selectors, deletion with ownerReferences GC, CRDs, pods/events/logs
scripting and fault injection. See ``FAKE_APISERVER.md`` in the package folder for what it
does and does not implement.
"""

from .builders import condition, container_status, running, terminated, waiting
from .errors import ApiError
from .faults import Fault, FaultInjector, RecordedRequest, RequestLog
from .resource_types import ResourceType
from .server import FakeApiServer
from .state import ClusterState

__all__ = [
    "ApiError",
    "ClusterState",
    "FakeApiServer",
    "Fault",
    "FaultInjector",
    "RecordedRequest",
    "RequestLog",
    "ResourceType",
    "condition",
    "container_status",
    "running",
    "terminated",
    "waiting",
]
