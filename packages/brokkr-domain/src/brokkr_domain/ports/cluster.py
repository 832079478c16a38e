"""The agent's hands in a Kubernetes cluster."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from brokkr_domain.manifests import KubeObject, ObjectRef

Manifest = dict[str, Any]


class Cluster(Protocol):
    """A Kubernetes cluster as the agent sees it.

    Errors: unknown kinds and rejected objects raise ``ValidationError`` (with the API server's message); a missing
    object on read/delete is not an error (``None``/``False``); API-server overload raises ``TransientError`` after
    the adapter's own retries.
    """

    def server_version(self) -> str: ...

    def is_namespaced(self, api_version: str, kind: str) -> bool:
        """Whether the kind is namespaced (from discovery); ``ValidationError`` if the kind is unknown."""
        ...

    def apply(self, obj: KubeObject, *, dry_run: bool = False) -> Manifest:
        """Server-side apply with our field manager and forced conflicts; returns the live (or would-be) object.

        A namespaced object without a namespace goes to ``default``.
        """
        ...

    def get(self, ref: ObjectRef) -> Manifest | None: ...

    def list_by_labels(self, label_selector: str) -> list[Manifest]:
        """Every object of every listable kind, in all namespaces, matching the label selector."""
        ...

    def delete(self, ref: ObjectRef, *, propagation: str = "Background") -> bool:
        """Delete one object; ``False`` if it did not exist."""
        ...

    def list_pods(
        self, namespace: str, label_selector: Mapping[str, str] | None = None
    ) -> list[Manifest]: ...

    def list_events(self, namespace: str, *, involved_name: str | None = None) -> list[Manifest]: ...

    def pod_log_tail(self, namespace: str, pod: str, container: str, lines: int) -> str: ...
