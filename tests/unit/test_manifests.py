"""The shipped manifests, read as data: settings parse, pods meet "restricted"."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

import yaml

from copr_importer.adapters.jobtemplate import default_template
from copr_importer.cli import _parser
from copr_importer.core.jobspec import render_job
from copr_importer.core.sourcespec import PypiSource
from copr_importer.core.task import ImportTask
from copr_importer.settings import from_mapping

REPO = Path(__file__).resolve().parents[2]
MANIFESTS = REPO / "manifests"


def documents() -> list[dict[str, Any]]:
    kustomization = yaml.safe_load((MANIFESTS / "kustomization.yaml").read_text())
    docs = []
    for name in kustomization["resources"]:
        docs += [d for d in yaml.safe_load_all((MANIFESTS / name).read_text()) if d]
    return docs


def by_kind(kind: str) -> list[dict[str, Any]]:
    return [d for d in documents() if d["kind"] == kind]


def service(name: str) -> dict[str, Any]:
    (found,) = [d for d in by_kind("Service") if d["metadata"]["name"] == name]
    return found


def deployment(component: str) -> dict[str, Any]:
    (found,) = [d for d in by_kind("Deployment") if d["metadata"]["labels"]["app.kubernetes.io/component"] == component]
    return found


def test_settings_in_the_configmap_load() -> None:
    (cm,) = by_kind("ConfigMap")
    settings = from_mapping(tomllib.loads(cm["data"]["importer.toml"]))
    assert int(cm["data"]["parallelism"]) > 0
    assert settings.kubernetes.namespace == "copr-importer"
    assert settings.job.data_claim == by_kind("PersistentVolumeClaim")[0]["metadata"]["name"]
    assert settings.job.settings_config_map == cm["metadata"]["name"]
    assert settings.job.service_account in {sa["metadata"]["name"] for sa in by_kind("ServiceAccount")}


def test_one_controller_with_the_writer_as_a_native_sidecar() -> None:
    controller = deployment("controller")
    assert controller["spec"]["replicas"] == 1 and controller["spec"]["strategy"]["type"] == "Recreate"
    pod = controller["spec"]["template"]["spec"]
    (writer,) = pod["initContainers"]
    assert writer["restartPolicy"] == "Always" and writer["args"][0] == "git-writer"
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault"
    for container in [*pod["initContainers"], *pod["containers"]]:
        sc = container["securityContext"]
        assert sc["allowPrivilegeEscalation"] is False and sc["capabilities"]["drop"] == ["ALL"]
        assert sc["readOnlyRootFilesystem"] is True
        assert {"requests", "limits"} <= set(container["resources"])
        assert "livenessProbe" in container


def test_namespace_enforces_restricted() -> None:
    (ns,) = by_kind("Namespace")
    assert ns["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"


def test_role_is_namespaced_and_never_touches_secrets() -> None:
    assert by_kind("ClusterRole") == [] and by_kind("ClusterRoleBinding") == []
    (role,) = by_kind("Role")
    assert all("secrets" not in rule["resources"] for rule in role["rules"])
    assert all("*" not in rule["verbs"] for rule in role["rules"])


def test_lifecycle_cronjobs_run_one_at_a_time_restricted_and_destructive_only_when_told() -> None:
    cronjobs = {c["metadata"]["name"]: c for c in by_kind("CronJob")}
    assert set(cronjobs) == {
        f"copr-importer-{n}" for n in ("expire-logs", "gc-lookaside", "prune-projects", "maintain-repos")
    }
    (pvc,) = by_kind("PersistentVolumeClaim")
    (cm,) = by_kind("ConfigMap")
    for name, cronjob in cronjobs.items():
        assert cronjob["spec"]["concurrencyPolicy"] == "Forbid", name
        pod = cronjob["spec"]["jobTemplate"]["spec"]["template"]["spec"]
        assert pod["restartPolicy"] == "Never" and pod["automountServiceAccountToken"] is False
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault"
        (container,) = pod["containers"]
        sc = container["securityContext"]
        assert sc["allowPrivilegeEscalation"] is False and sc["capabilities"]["drop"] == ["ALL"]
        assert sc["readOnlyRootFilesystem"] is True and {"requests", "limits"} <= set(container["resources"])
        claims = {v["persistentVolumeClaim"]["claimName"] for v in pod["volumes"] if "persistentVolumeClaim" in v}
        assert claims == {pvc["metadata"]["name"]}
        assert {v["configMap"]["name"] for v in pod["volumes"] if "configMap" in v} == {cm["metadata"]["name"]}
        args = container["args"]
        assert name == f"copr-importer-{args[0]}"
        _parser().parse_args(args)  # a real subcommand with valid options
        # Every lifecycle command is a dry run without --apply; old logs are deleted (as copr's
        # cron does), the GC and pruning ship as dry runs.
        assert ("--apply" in args) == (args[0] == "expire-logs"), name


def test_probes_and_metrics_are_http_on_the_pod_ip() -> None:
    pod = deployment("controller")["spec"]["template"]["spec"]
    for container in [*pod["initContainers"], *pod["containers"]]:
        ports = {p["name"]: p["containerPort"] for p in container["ports"]}
        (listen,) = [a for i, a in enumerate(container["args"]) if container["args"][i - 1] == "--listen"]
        host, port = listen.rsplit(":", 1)
        assert host == "$(POD_IP)" and int(port) in ports.values()
        (env,) = [e for e in container["env"] if e["name"] == "POD_IP"]
        assert env["valueFrom"]["fieldRef"]["fieldPath"] == "status.podIP"
        for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
            if probe in container:
                assert container[probe]["httpGet"]["port"] in ports
                assert container[probe]["httpGet"]["path"] in {"/livez", "/readyz"}
    (controller,) = pod["containers"]
    assert controller["livenessProbe"]["httpGet"]["path"] == "/livez"
    assert controller["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert not any("0.0.0.0" in a or "[::]" in a for c in pod["containers"] + pod["initContainers"] for a in c["args"])


def test_the_service_selects_the_controller_pod_and_its_named_ports() -> None:
    controller = service("copr-importer-controller")
    pod = deployment("controller")["spec"]["template"]
    assert controller["spec"]["selector"].items() <= pod["metadata"]["labels"].items()
    named = {
        p["name"]: p["containerPort"]
        for c in [*pod["spec"]["initContainers"], *pod["spec"]["containers"]]
        for p in c["ports"]
    }
    targets = {p["targetPort"]: p["port"] for p in controller["spec"]["ports"]}
    assert targets == named  # each named port exposed under its own number
    annotations = controller["metadata"]["annotations"]
    assert annotations["prometheus.io/scrape"] == "true"
    assert int(annotations["prometheus.io/port"]) == named["http"]


def test_the_web_side_is_restricted_read_only_and_listens_on_the_pod_ip() -> None:
    web = deployment("web")
    pod = web["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault"
    assert pod["automountServiceAccountToken"] is False
    (httpd,) = pod["containers"]
    sc = httpd["securityContext"]
    assert sc["allowPrivilegeEscalation"] is False and sc["capabilities"]["drop"] == ["ALL"]
    assert sc["readOnlyRootFilesystem"] is True
    assert {"requests", "limits"} <= set(httpd["resources"])
    assert {"startupProbe", "livenessProbe", "readinessProbe"} <= set(httpd)
    env = {e["name"]: e for e in httpd["env"]}
    assert env["POD_IP"]["valueFrom"]["fieldRef"]["fieldPath"] == "status.podIP"
    assert env["COPR_WEB_LISTEN"]["value"] == "$(POD_IP):8080"
    # Every ${VAR} of web/httpd.conf is set, and the container port is the one it listens on.
    wanted = set(re.findall(r"\$\{(\w+)\}", (REPO / "web/httpd.conf").read_text()))
    assert wanted == {n for n in env if n.startswith("COPR_WEB_")}
    assert httpd["ports"][0]["containerPort"] == 8080
    volumes = {v["name"]: v for v in pod["volumes"]}
    mounts = {m["mountPath"]: m for m in httpd["volumeMounts"]}
    # The data volume is the controller's claim, read-only, at the path the settings use:
    # the cgit list holds absolute repository paths written by the git-writer.
    data = mounts[env["COPR_WEB_DATA"]["value"]]
    assert data.get("readOnly") is True
    claim = volumes[data["name"]]["persistentVolumeClaim"]
    assert claim["claimName"] == by_kind("PersistentVolumeClaim")[0]["metadata"]["name"] and claim["readOnly"] is True
    (cm,) = by_kind("ConfigMap")
    settings = from_mapping(tomllib.loads(cm["data"]["importer.toml"]))
    assert str(settings.data_dir) == env["COPR_WEB_DATA"]["value"]
    assert settings.cgit_list_path == settings.data_dir / "cgit/repos.rc"  # where web/httpd.conf looks
    # The run directory is the only writable place.
    assert "emptyDir" in volumes[mounts[env["COPR_WEB_RUN"]["value"]]["name"]]


def test_the_web_service_selects_the_web_pods() -> None:
    web = service("copr-importer-web")
    labels = deployment("web")["spec"]["template"]["metadata"]["labels"]
    assert web["spec"]["selector"].items() <= labels.items()
    assert web["spec"]["selector"]["app.kubernetes.io/component"] == "web"
    (port,) = web["spec"]["ports"]
    assert port["targetPort"] == deployment("web")["spec"]["template"]["spec"]["containers"][0]["ports"][0]["name"]


def test_the_network_policy_confines_import_pods_and_only_them() -> None:
    (policy,) = by_kind("NetworkPolicy")
    selector = policy["spec"]["podSelector"]["matchLabels"]
    (cm,) = by_kind("ConfigMap")
    settings = from_mapping(tomllib.loads(cm["data"]["importer.toml"]))
    task = ImportTask(1, "o", "p", "pkg", ("master",), "", "o/p--u", source=PypiSource("six"))
    job = render_job(task, template=default_template(), namespace="copr-importer", job=settings.job)
    assert selector.items() <= job["spec"]["template"]["metadata"]["labels"].items()
    for other in (deployment("controller"), deployment("web")):
        assert not selector.items() <= other["spec"]["template"]["metadata"]["labels"].items()
    assert set(policy["spec"]["policyTypes"]) == {"Ingress", "Egress"} and policy["spec"]["ingress"] == []
    dns, web = policy["spec"]["egress"]
    assert {p["port"] for p in dns["ports"]} == {53}
    assert {(p["protocol"], p["port"]) for p in web["ports"]} == {("TCP", 80), ("TCP", 443), ("TCP", 9418)}
    assert all("169.254.0.0/16" in b["ipBlock"]["except"] for b in web["to"] if "." in b["ipBlock"]["cidr"])
    # The Jobs that the policy confines are the ones allowed to run repository code.
    assert settings.sources.run_repository_code
