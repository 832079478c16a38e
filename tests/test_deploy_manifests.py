"""The Kubernetes manifests in ``deploy/`` hold together: they are what operators apply, and nothing else
runs them before a real cluster does.

Checked here: every file parses as the agent parses manifests; the pieces agree with each other (probes,
ports, Service and PDB selectors, volumes, Secret references, the ServiceAccount); the pods are hardened to
the "restricted" Pod Security Standard; every ``BROKKR__…`` name and every TOML key is a real setting that
loads; the agent's ClusterRole covers what the agent does and holds no wildcard; and a Kubernetes-faithful API
server (the project's fake, driven by the official client) accepts every object, namespaces first.
"""

from __future__ import annotations

import base64
import re
import secrets
import tomllib
from collections.abc import Iterator, Mapping
from functools import cache
from pathlib import Path
from typing import Any

import kubernetes.client.models
import pytest
import yaml

from brokkr_adapters_k8s.testing import ClusterState, FakeApiServer, ResourceType
from brokkr_domain.errors import UnauthorizedError
from brokkr_domain.manifests import KubeObject, is_cluster_scoped_kind_hint, order_for_apply, parse_manifests
from brokkr_domain.pak import generate_pak, parse_pak
from brokkr_domain.settings import ConfigError, Settings, flatten, load_settings

DEPLOY = Path(__file__).resolve().parents[1] / "deploy"
COMPONENTS = ("broker", "agent")
NOT_IN_KUSTOMIZATION = {"secret.template.yaml", "migrate-job.yaml"}
PLACEHOLDER = "REPLACE-ME"
# What an operator puts in the Secrets instead of the placeholders (deploy/README.md shows how).
FILLED_IN = {
    "BROKKR__DATABASE__URL": "postgresql://brokkr:s3cret@postgres.db.svc:5432/brokkr",
    "BROKKR__BROKER__PAK_HASH": generate_pak().hash,
    "BROKKR__BROKER__WEBHOOK_ENCRYPTION_KEY": secrets.token_hex(32),
    "BROKKR__AGENT__PAK": generate_pak().key,
}
NON_SETTING_VARIABLES = {
    "BROKKR_CONFIG_FILE",
    "BROKKR_CONFIG_WATCHER_ENABLED",
    "BROKKR_CONFIG_WATCHER_DEBOUNCE_SECONDS",
}


# -- loading ------------------------------------------------------------------------------------------------


def manifest_files() -> list[Path]:
    return sorted(p for p in DEPLOY.rglob("*.yaml") if p.name != "kustomization.yaml")


@cache
def objects_in(component: str) -> tuple[KubeObject, ...]:
    return tuple(
        o
        for p in sorted((DEPLOY / component).glob("*.yaml"))
        if p.name != "kustomization.yaml"
        for o in parse_manifests(p.read_text(encoding="utf-8"))
    )


def all_objects() -> list[KubeObject]:
    return [o for component in COMPONENTS for o in objects_in(component)]


def one(component: str, kind: str, name: str | None = None) -> dict[str, Any]:
    found = [o.body for o in objects_in(component) if o.kind == kind and (name is None or o.name == name)]
    assert len(found) == 1, f"expected one {kind} {name or ''} in deploy/{component}, found {len(found)}"
    return found[0]


def workloads(component: str) -> list[dict[str, Any]]:
    return [o.body for o in objects_in(component) if o.kind in ("Deployment", "Job")]


def pod_spec(workload: Mapping[str, Any]) -> dict[str, Any]:
    spec: dict[str, Any] = workload["spec"]["template"]["spec"]
    return spec


def container(workload: Mapping[str, Any]) -> dict[str, Any]:
    containers = pod_spec(workload)["containers"]
    assert len(containers) == 1
    first: dict[str, Any] = containers[0]
    return first


def config_toml(component: str) -> str:
    text: str = one(component, "ConfigMap")["data"]["brokkr.toml"]
    return text


def settings_of(component: str, tmp_path: Path, environ: Mapping[str, str] | None = None) -> Settings:
    path = tmp_path / f"{component}.toml"
    path.write_text(config_toml(component), encoding="utf-8")
    return load_settings(path, dict(environ or {}))


def matches(selector: Mapping[str, str], labels: Mapping[str, str]) -> bool:
    return all(labels.get(k) == v for k, v in selector.items())


def quantity(text: str | int) -> float:
    """A Kubernetes resource quantity as a number (only the suffixes these manifests may use)."""
    units = {"m": 1e-3, "Ki": 2**10, "Mi": 2**20, "Gi": 2**30}
    match = re.fullmatch(r"(\d+(?:\.\d+)?)(m|Ki|Mi|Gi)?", str(text))
    assert match, f"unsupported quantity {text!r}"
    return float(match.group(1)) * units.get(match.group(2) or "", 1)


def leaves(tree: Mapping[str, Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
    for key, value in tree.items():
        if isinstance(value, Mapping):
            yield from leaves(value, f"{prefix}{key}.")
        else:
            yield f"{prefix}{key}", value


# -- every file parses, and the kustomizations are complete ------------------------------------------------


@pytest.mark.parametrize("path", manifest_files(), ids=lambda p: str(p.relative_to(DEPLOY)))
def test_every_manifest_parses_and_names_its_namespace(path: Path) -> None:
    objs = parse_manifests(path.read_text(encoding="utf-8"))
    assert objs
    own_namespaces = {o.name for o in objects_in(path.parent.name) if o.kind == "Namespace"}
    for obj in objs:
        if is_cluster_scoped_kind_hint(obj.kind):
            assert obj.namespace is None, obj.ref
        else:  # never the caller's current namespace: always the component's own
            assert obj.namespace in own_namespaces, obj.ref


def schema_errors(data: Any, type_name: str, path: str = "") -> list[str]:
    """Fields unknown to the official client's models of the Kubernetes API, and scalars of the wrong type.

    An unknown field is dropped (or rejected) by a real API server, so a typo such as ``readinessprobe``
    would silently disable a probe; an unquoted annotation value is rejected. The fake server checks neither.
    """
    scalars: dict[str, type | tuple[type, ...]] = {
        "str": str,
        "int": int,
        "bool": bool,
        "float": (int, float),
    }
    generic = re.fullmatch(r"(List|Dict)\[(?:str, )?(.+)\]", type_name)
    if generic:
        outer, inner = generic.groups()
        if not isinstance(data, list if outer == "List" else dict):
            return [f"{path}: expected {type_name}"]
        items = enumerate(data) if isinstance(data, list) else data.items()
        return [e for key, value in items for e in schema_errors(value, inner, f"{path}[{key}]")]
    if type_name in ("object", "datetime"):  # int-or-string, quantities given as numbers, free-form
        return []
    if type_name in scalars:
        ok = isinstance(data, scalars[type_name]) and not (type_name != "bool" and isinstance(data, bool))
        return [] if ok else [f"{path}: expected {type_name}, got {data!r}"]
    model = getattr(kubernetes.client.models, type_name)
    if not isinstance(data, dict):
        return [f"{path}: expected an object ({type_name})"]
    fields = {json_name: attr for attr, json_name in model.attribute_map.items()}
    errors = [f"{path}.{key}: unknown field of {type_name}" for key in data if key not in fields]
    return errors + [
        e
        for key, value in data.items()
        if key in fields
        for e in schema_errors(value, model.openapi_types[fields[key]], f"{path}.{key}")
    ]


@pytest.mark.parametrize("obj", all_objects(), ids=lambda o: str(o.ref))
def test_every_field_is_known_to_the_kubernetes_api(obj: KubeObject) -> None:
    version = obj.api_version.rpartition("/")[2]
    assert schema_errors(obj.body, f"{version.capitalize()}{obj.kind}") == []


@pytest.mark.parametrize("component", COMPONENTS)
def test_kustomization_lists_every_manifest_but_templates_and_one_off_jobs(component: str) -> None:
    kustomization = yaml.safe_load((DEPLOY / component / "kustomization.yaml").read_text(encoding="utf-8"))
    listed = set(kustomization["resources"])
    present = {p.name for p in (DEPLOY / component).glob("*.yaml")} - {"kustomization.yaml"}
    assert listed == present - NOT_IN_KUSTOMIZATION
    images = {c["image"].rsplit(":", 1)[0] for w in workloads(component) for c in pod_spec(w)["containers"]}
    assert {i["name"] for i in kustomization["images"]} == images


# -- workloads: probes, ports, resources, hardening, volumes, Secret references ------------------------------


@pytest.mark.parametrize("component", COMPONENTS)
def test_deployment_selector_probes_and_ports_agree(component: str, tmp_path: Path) -> None:
    deployment = one(component, "Deployment")
    assert matches(
        deployment["spec"]["selector"]["matchLabels"], deployment["spec"]["template"]["metadata"]["labels"]
    )
    c = container(deployment)
    ports = {p["name"]: p["containerPort"] for p in c["ports"]}
    settings = settings_of(component, tmp_path)
    expected_port = settings.broker.port if component == "broker" else settings.agent.health_port
    assert list(ports.values()) == [expected_port]
    for probe, path in (
        ("startupProbe", "/healthz"),
        ("livenessProbe", "/healthz"),
        ("readinessProbe", "/readyz"),
    ):
        get = c[probe]["httpGet"]
        assert get["path"] == path, probe
        assert ports.get(get["port"], get["port"]) == expected_port, probe
    assert c["command"] == (["brokkr-broker", "serve"] if component == "broker" else ["brokkr-agent", "run"])
    annotations = deployment["spec"]["template"]["metadata"]["annotations"]
    assert (
        annotations["prometheus.io/port"] == str(expected_port)
        and annotations["prometheus.io/path"] == "/metrics"
    )


@pytest.mark.parametrize(
    "workload", [w for c in COMPONENTS for w in workloads(c)], ids=lambda w: w["metadata"]["name"]
)
def test_workload_is_hardened_and_bounded(workload: dict[str, Any]) -> None:
    pod = pod_spec(workload)
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] > 0
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert not pod.get("hostNetwork") and not pod.get("hostPID") and not pod.get("hostIPC")
    for c in pod["containers"]:
        sc = c["securityContext"]
        assert sc["allowPrivilegeEscalation"] is False and sc["readOnlyRootFilesystem"] is True
        assert sc["runAsNonRoot"] is True and sc["capabilities"] == {"drop": ["ALL"]}
        assert sc["seccompProfile"] == {"type": "RuntimeDefault"} and not sc.get("privileged")
        for resource in ("cpu", "memory"):
            request, limit = c["resources"]["requests"][resource], c["resources"]["limits"][resource]
            assert 0 < quantity(request) <= quantity(limit), resource
        volumes = {v["name"]: v for v in pod["volumes"]}
        mounts = {m["mountPath"]: m for m in c["volumeMounts"]}
        assert all(m["name"] in volumes for m in mounts.values())
        assert "emptyDir" in volumes[mounts["/tmp"]["name"]]
        config = mounts["/etc/brokkr"]
        # A subPath mount would never see an edit of the ConfigMap (and hot reload would silently stop).
        assert config["readOnly"] is True and "subPath" not in config
        assert volumes[config["name"]]["configMap"]["name"].endswith("-config")


@pytest.mark.parametrize("component", COMPONENTS)
def test_workloads_reference_existing_config_and_required_secret_keys(component: str) -> None:
    config_map = one(component, "ConfigMap")
    secret = one(component, "Secret")
    for workload in workloads(component):
        pod, c = pod_spec(workload), container(workload)
        env = {e["name"]: e for e in c["env"]}
        config_volume = next(v for v in pod["volumes"] if "configMap" in v)
        assert config_volume["configMap"]["name"] == config_map["metadata"]["name"]
        config_file = Path(env["BROKKR_CONFIG_FILE"]["value"])
        mount = next(m for m in c["volumeMounts"] if m["name"] == config_volume["name"])
        assert config_file.parent == Path(mount["mountPath"]) and config_file.name in config_map["data"]
        for name, entry in env.items():
            if "valueFrom" in entry:
                ref = entry["valueFrom"]["secretKeyRef"]
                assert ref["name"] == secret["metadata"]["name"] and ref["key"] in secret["stringData"]
                assert ref["key"] == name and not ref.get("optional", False), name
            else:
                assert name in NON_SETTING_VARIABLES, f"{name}: settings belong in the ConfigMap or Secret"


def test_broker_is_replicated_behind_service_and_budget_and_drains_in_time(tmp_path: Path) -> None:
    deployment, service, pdb = (
        one("broker", "Deployment"),
        one("broker", "Service"),
        one("broker", "PodDisruptionBudget"),
    )
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    job_labels = one("broker", "Job")["spec"]["template"]["metadata"]["labels"]
    assert deployment["spec"]["replicas"] == 2
    assert service["spec"]["type"] == "ClusterIP"
    assert matches(service["spec"]["selector"], pod_labels) and not matches(
        service["spec"]["selector"], job_labels
    )
    (port,) = service["spec"]["ports"]
    c = container(deployment)
    target = {p["name"]: p["containerPort"] for p in c["ports"]}.get(port["targetPort"], port["targetPort"])
    assert port["port"] == 3000 and target == 3000
    assert pdb["spec"]["minAvailable"] == 1
    assert matches(pdb["spec"]["selector"]["matchLabels"], pod_labels)
    assert not matches(pdb["spec"]["selector"]["matchLabels"], job_labels)
    pause = int(c["lifecycle"]["preStop"]["exec"]["command"][-1])
    grace = settings_of("broker", tmp_path).broker.shutdown_grace_seconds
    assert pod_spec(deployment)["terminationGracePeriodSeconds"] > grace + pause
    assert pod_spec(deployment)["automountServiceAccountToken"] is False  # the broker never calls Kubernetes


def test_agent_is_single_in_cluster_and_reaches_the_broker_service(tmp_path: Path) -> None:
    deployment = one("agent", "Deployment")
    assert deployment["spec"]["replicas"] == 1
    assert deployment["spec"]["strategy"]["type"] == "Recreate"  # never two agents reconciling one cluster
    assert pod_spec(deployment)["serviceAccountName"] == one("agent", "ServiceAccount")["metadata"]["name"]
    assert [p["name"] for p in container(deployment)["ports"]] == ["metrics"]
    settings = settings_of("agent", tmp_path).agent
    assert settings.kubeconfig_path is None  # in-cluster configuration
    assert settings.agent_name and settings.cluster_name
    service = one("broker", "Service")
    host = f"{service['metadata']['name']}.{service['metadata']['namespace']}.svc.cluster.local"
    assert settings.broker_url == f"http://{host}:{service['spec']['ports'][0]['port']}"


# -- settings: every name and key is real, and the filled-in environment loads -------------------------------


@pytest.mark.parametrize("component", COMPONENTS)
def test_every_toml_key_is_a_setting_and_takes_effect(component: str, tmp_path: Path) -> None:
    loaded = flatten(settings_of(component, tmp_path))  # an unknown key raises ConfigError here
    for key, value in leaves(tomllib.loads(config_toml(component))):
        expected = tuple(value) if isinstance(value, list) else value
        assert loaded[key] == expected, key


@pytest.mark.parametrize(
    "workload", [(c, w) for c in COMPONENTS for w in workloads(c)], ids=lambda cw: cw[1]["metadata"]["name"]
)
def test_container_environment_with_filled_in_secret_loads(
    workload: tuple[str, dict[str, Any]], tmp_path: Path
) -> None:
    component, body = workload
    env = {e["name"]: e.get("value") or FILLED_IN[e["name"]] for e in container(body)["env"]}
    env.pop("BROKKR_CONFIG_FILE")
    loaded = flatten(settings_of(component, tmp_path, env))
    for name, value in env.items():
        assert loaded[name.removeprefix("BROKKR__").lower().replace("__", ".")] == value, name


def test_secret_templates_hold_only_placeholders_that_fail_fast(tmp_path: Path) -> None:
    broker_secret, agent_secret = one("broker", "Secret")["stringData"], one("agent", "Secret")["stringData"]
    assert set(broker_secret) | set(agent_secret) == set(FILLED_IN)
    assert all(v.startswith(PLACEHOLDER) for v in [*broker_secret.values(), *agent_secret.values()])
    for name in ("BROKKR__BROKER__PAK_HASH", "BROKKR__BROKER__WEBHOOK_ENCRYPTION_KEY"):
        with pytest.raises(ConfigError):  # an unedited Secret stops the broker at startup
            settings_of("broker", tmp_path, {name: broker_secret[name]})
    with pytest.raises(UnauthorizedError):  # and the agent's placeholder is not a key the broker accepts
        parse_pak(agent_secret["BROKKR__AGENT__PAK"])


def test_every_brokkr_variable_named_in_deploy_is_a_setting() -> None:
    defaults = flatten(load_settings(None, {}))
    texts = [p.read_text(encoding="utf-8") for p in DEPLOY.rglob("*") if p.is_file()]
    names = {m for text in texts for m in re.findall(r"\bBROKKR__[A-Z0-9_]*[A-Z0-9]", text)}
    assert set(FILLED_IN) <= names
    for name in sorted(names - {"BROKKR__SECTION__KEY"}):  # the pattern itself, named in comments
        key = name.removeprefix("BROKKR__").lower().replace("__", ".")
        assert key in defaults, f"{name} is not a setting"
        sample = FILLED_IN.get(name) or str(defaults[key])
        assert flatten(load_settings(None, {name: sample}))[key] is not None, name


# -- the agent's RBAC ----------------------------------------------------------------------------------------

APPLY_VERBS = {"get", "list", "create", "patch", "update", "delete"}
READ_VERBS = {"get", "list"}
AGENT_NEEDS: dict[tuple[str, str], set[str]] = {
    **{("", r): APPLY_VERBS for r in ("namespaces", "configmaps", "secrets", "services", "serviceaccounts")},
    **{("apps", r): APPLY_VERBS for r in ("deployments", "statefulsets", "daemonsets")},
    **{("batch", r): APPLY_VERBS for r in ("jobs", "cronjobs")},
    ("networking.k8s.io", "ingresses"): APPLY_VERBS,
    **{("rbac.authorization.k8s.io", r): APPLY_VERBS for r in ("roles", "rolebindings")},
    ("apiextensions.k8s.io", "customresourcedefinitions"): APPLY_VERBS,
    **{("", r): READ_VERBS for r in ("pods", "pods/log", "events")},
    # Builds are applied; BuildRuns are created, followed and replaced when a retried one had failed.
    ("shipwright.io", "builds"): {"get", "create", "patch"},
    ("shipwright.io", "buildruns"): {"get", "list", "create", "patch", "delete"},
}
# Kinds the fake API server does not serve, so their resource names are checked against this list instead.
KNOWN_ELSEWHERE = {
    ("networking.k8s.io", "ingresses"),
    ("shipwright.io", "builds"),
    ("shipwright.io", "buildruns"),
}


def grants(rules: list[dict[str, Any]]) -> dict[tuple[str, str], set[str]]:
    out: dict[tuple[str, str], set[str]] = {}
    for rule in rules:
        for group in rule.get("apiGroups", []):
            for resource in rule.get("resources", []):
                out.setdefault((group, resource), set()).update(rule["verbs"])
    return out


def test_cluster_role_grants_what_the_agent_uses_without_wildcards_or_escalation() -> None:
    rules = one("agent", "ClusterRole")["rules"]
    granted = grants(rules)
    missing = {
        k: sorted(v - granted.get(k, set())) for k, v in AGENT_NEEDS.items() if not v <= granted.get(k, set())
    }
    assert not missing
    for rule in rules:
        for field in ("verbs", "apiGroups", "resources", "resourceNames"):
            assert not any("*" in item for item in rule.get(field, [])), (field, rule)
        assert not set(rule["verbs"]) & {"escalate", "bind", "impersonate", "watch", "deletecollection"}, rule
    (discovery,) = [r for r in rules if "nonResourceURLs" in r]
    assert discovery["verbs"] == ["get"]
    assert (
        {"/api", "/apis", "/version"}
        <= set(discovery["nonResourceURLs"])
        <= {"/api", "/api/*", "/apis", "/apis/*", "/version"}
    )
    state = ClusterState()
    try:
        served = {(t.group, t.plural) for t in state.served_types()} | {("", "pods/log")}
    finally:
        state.close()
    assert set(granted) <= served | KNOWN_ELSEWHERE, "a rule names a resource that does not exist"


def test_cluster_role_is_bound_to_the_agent_service_account() -> None:
    binding, account = one("agent", "ClusterRoleBinding"), one("agent", "ServiceAccount")
    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "ClusterRole",
        "name": one("agent", "ClusterRole")["metadata"]["name"],
    }
    assert binding["subjects"] == [
        {
            "kind": "ServiceAccount",
            "name": account["metadata"]["name"],
            "namespace": account["metadata"]["namespace"],
        }
    ]


# -- a Kubernetes-faithful API server accepts everything -----------------------------------------------------

# The fake serves no policy/v1 group; PodDisruptionBudgets get the generic object checks (names, labels).
PDB_TYPE = ResourceType(
    "policy", "v1", "poddisruptionbudgets", "PodDisruptionBudget", True, subresources=("status",)
)


def contains(live: Any, sent: Any) -> bool:
    """Whether everything sent came back (the server may add defaults around it)."""
    if isinstance(sent, Mapping):
        return isinstance(live, Mapping) and all(k in live and contains(live[k], v) for k, v in sent.items())
    if isinstance(sent, list):
        return isinstance(live, list) and len(live) == len(sent) and all(map(contains, live, sent))
    return bool(live == sent)


def test_fake_api_server_accepts_every_manifest_namespaces_first() -> None:
    objs = order_for_apply(all_objects())
    with FakeApiServer.running() as srv:
        with srv.state.lock:
            srv.state.registry.register_crd("poddisruptionbudgets.policy", [PDB_TYPE])
        dyn = srv.dynamic_client()
        for obj in objs:  # `kubectl apply --server-side`, in the agent's own order
            api = dyn.resources.get(api_version=obj.api_version, kind=obj.kind)
            api.server_side_apply(
                body=obj.body, name=obj.name, namespace=obj.namespace, field_manager="kubectl"
            )
        for obj in objs:
            group = obj.api_version.rpartition("/")[0]
            live = srv.state.get_object(group, obj.kind, obj.name, obj.namespace)
            assert live is not None, obj.ref
            sent = {k: v for k, v in obj.body.items() if k not in ("metadata", "stringData")}
            assert contains(live, sent), obj.ref
            assert contains(live["metadata"], {"labels": obj.labels}), obj.ref
            if "stringData" in obj.body:
                decoded = {k: base64.b64decode(v).decode() for k, v in live["data"].items()}
                assert decoded == obj.body["stringData"]
