"""Optional Deployment controller simulation (off by default).

When enabled, every committed Deployment write is reconciled synchronously: one ReplicaSet per
pod template (``<name>-<pod-template-hash>``, owned by the Deployment), old ReplicaSets scaled to
zero, Running/Ready pods owned by the current ReplicaSet, and a Deployment status that reports
everything available. Deleting the Deployment cleans up through ownerReferences GC.
"""

from __future__ import annotations

import copy
import hashlib
import json
import threading
from typing import Any

from .builders import DEFAULT_IMAGE, container_status, owner_reference, pod_manifest
from .errors import JsonDict
from .operations import random_suffix
from .resource_types import ResourceType
from .state import ClusterState

REVISION_ANNOTATION = "deployment.kubernetes.io/revision"


def template_hash(template: Any) -> str:
    return hashlib.sha256(json.dumps(template, sort_keys=True).encode()).hexdigest()[:10]


class DeploymentSimulator:
    def __init__(self, state: ClusterState):
        self.state = state
        self._busy = threading.local()

    def __call__(self, rtype: ResourceType, obj: JsonDict) -> None:
        if (
            rtype.custom
            or (rtype.group, rtype.kind) != ("apps", "Deployment")
            or getattr(self._busy, "on", False)
        ):
            return
        self._busy.on = True
        try:
            self.reconcile(
                self.state.render(
                    rtype, self.state.require(rtype, obj["metadata"]["namespace"], obj["metadata"]["name"])
                )
            )
        finally:
            self._busy.on = False

    def _owned(self, kind: str, namespace: str, owner_uid: str) -> list[JsonDict]:
        return [
            o
            for o in self.state.list_objects("apps" if kind == "ReplicaSet" else "", kind, namespace)
            if any(r.get("uid") == owner_uid for r in o["metadata"].get("ownerReferences") or [])
        ]

    def reconcile(self, deployment: JsonDict) -> None:
        meta, spec = deployment["metadata"], deployment.get("spec") or {}
        namespace, replicas = meta["namespace"], int(spec.get("replicas", 1))
        template = copy.deepcopy(spec.get("template") or {})
        pod_hash = template_hash(template)
        rs_name = f"{meta['name']}-{pod_hash}"
        rs_type = self.state.resource_type("apps", "ReplicaSet")
        revision = 1
        for old in self._owned("ReplicaSet", namespace, meta["uid"]):
            revision = max(
                revision, int(old["metadata"].get("annotations", {}).get(REVISION_ANNOTATION, "0")) + 1
            )
            if old["metadata"]["name"] != rs_name:
                self._scale_pods(old, 0)
                old["spec"]["replicas"] = 0
                old["status"] = {"replicas": 0, "observedGeneration": old["metadata"].get("generation", 1)}
                self.state.put(rs_type, old, keep_status=False)
        labels = {**(template.get("metadata") or {}).get("labels", {}), "pod-template-hash": pod_hash}
        template.setdefault("metadata", {})["labels"] = labels
        existing = self.state.get_object("apps", "ReplicaSet", rs_name, namespace)
        annotations = (existing or {}).get("metadata", {}).get("annotations") or {
            REVISION_ANNOTATION: str(revision)
        }
        replica_set = {
            "apiVersion": "apps/v1",
            "kind": "ReplicaSet",
            "metadata": {
                "name": rs_name,
                "namespace": namespace,
                "labels": labels,
                "annotations": annotations,
                "ownerReferences": [owner_reference(deployment)],
            },
            "spec": {"replicas": replicas, "selector": {"matchLabels": labels}, "template": template},
            "status": _counts(replicas),
        }
        stored = self.state.render(rs_type, self.state.put(rs_type, replica_set, keep_status=False))
        self._scale_pods(stored, replicas)
        status = {
            "observedGeneration": meta.get("generation", 1),
            "updatedReplicas": replicas,
            **_counts(replicas),
            "conditions": [
                {
                    "type": "Available",
                    "status": "True",
                    "reason": "MinimumReplicasAvailable",
                    "message": "Deployment has minimum availability.",
                },
                {
                    "type": "Progressing",
                    "status": "True",
                    "reason": "NewReplicaSetAvailable",
                    "message": f'ReplicaSet "{rs_name}" has successfully progressed.',
                },
            ],
        }
        self.state.set_status("apps", "Deployment", meta["name"], status, namespace=namespace)

    def _scale_pods(self, replica_set: JsonDict, replicas: int) -> None:
        meta = replica_set["metadata"]
        pods = self._owned("Pod", meta["namespace"], meta["uid"])
        for pod in pods[replicas:]:
            self.state.delete_object("", "Pod", pod["metadata"]["name"], meta["namespace"])
        template = replica_set["spec"].get("template") or {}
        containers = (template.get("spec") or {}).get("containers") or []
        for _ in range(replicas - len(pods)):
            statuses = [
                container_status(c["name"], image=c.get("image") or DEFAULT_IMAGE) for c in containers
            ]
            manifest = pod_manifest(
                meta["namespace"],
                f"{meta['name']}-{random_suffix()}",
                labels=template["metadata"]["labels"],
                container_statuses=statuses,
                owner=replica_set,
                now=self.state.now(),
            )
            self.state.put(self.state.resource_type("", "Pod"), manifest, keep_status=False)


def _counts(replicas: int) -> JsonDict:
    return {
        "replicas": replicas,
        "readyReplicas": replicas,
        "availableReplicas": replicas,
        "fullyLabeledReplicas": replicas,
    }


def attach_workload_simulation(state: ClusterState) -> DeploymentSimulator:
    simulator = DeploymentSimulator(state)
    state.observe_writes(simulator)
    return simulator
