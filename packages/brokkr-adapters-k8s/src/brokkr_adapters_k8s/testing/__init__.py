"""Test support for the Kubernetes adapter: a fake API server the real client can talk to."""

from .fake_apiserver import (
    ApiError,
    ClusterState,
    FakeApiServer,
    Fault,
    FaultInjector,
    RecordedRequest,
    RequestLog,
    ResourceType,
    condition,
    container_status,
    running,
    terminated,
    waiting,
)

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
