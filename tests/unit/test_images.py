"""Image references and pod details an administrator meets when applying the manifests:
versioned tags, the overlay that swaps them, fieldRefs that server-side apply accepts,
ownership changes only when needed, and the import Job's narrow mounts."""

from __future__ import annotations

import tomllib
from typing import Any

import yaml

from copr_importer.adapters.jobtemplate import default_template
from copr_importer.core.jobspec import live_job_settings, render_job
from copr_importer.core.task import ImportTask
from copr_importer.settings import JobSettings
from tests.unit.test_manifests import REPO, by_kind, documents

VERSION = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]
TASK = ImportTask(7, "alice", "demo", "foo", ("f43",), "https://example.invalid/foo.src.rpm", "alice/demo--alice")


def pod_specs() -> list[dict[str, Any]]:
    specs = []
    for doc in documents():
        spec = doc.get("spec", {})
        if doc["kind"] == "CronJob":
            spec = spec["jobTemplate"]["spec"]
        if "template" in spec:
            specs.append(spec["template"]["spec"])
    return specs


def containers() -> list[dict[str, Any]]:
    return [c for pod in pod_specs() for c in [*pod.get("initContainers", []), *pod["containers"]]]


def test_every_image_is_tagged_with_the_release_never_latest() -> None:
    (cm,) = by_kind("ConfigMap")
    images = {c["image"] for c in containers()} | {cm["data"]["job-image"]}
    assert images == {f"quay.io/copr-importer/{name}:{VERSION}" for name in ("controller", "job", "web")}
    assert JobSettings().image == cm["data"]["job-image"]
    assert all(c["imagePullPolicy"] == "IfNotPresent" for c in containers())


def test_the_single_node_overlay_swaps_every_image_and_supplies_the_volume() -> None:
    overlay = yaml.safe_load((REPO / "overlays/single-node/kustomization.yaml").read_text())
    swapped = {i["name"]: i["newName"] for i in overlay["images"]}
    assert swapped == {
        f"quay.io/copr-importer/{n}": f"localhost/copr-importer/{n}" for n in ("controller", "job", "web")
    }
    assert overlay["resources"] == ["../../manifests", "pv.yaml"]
    pv = yaml.safe_load((REPO / "overlays/single-node/pv.yaml").read_text())
    (claim,) = by_kind("PersistentVolumeClaim")
    assert pv["spec"]["claimRef"]["name"] == claim["metadata"]["name"]
    assert set(claim["spec"]["accessModes"]) <= set(pv["spec"]["accessModes"])
    # The ConfigMap's job-image is an image reference to kustomize, so "images:" rewrites it too.
    config = yaml.safe_load((REPO / "manifests/kustomizeconfig.yaml").read_text())
    assert {"path": "data/job-image", "kind": "ConfigMap"} in config["images"]


def test_field_refs_name_their_api_version() -> None:
    refs = [
        e["valueFrom"]["fieldRef"]
        for c in containers()
        for e in c.get("env", [])
        if "fieldRef" in e.get("valueFrom", {})
    ]
    assert refs and all(ref.get("apiVersion") == "v1" for ref in refs)


def test_volume_ownership_is_changed_only_when_it_differs() -> None:
    job = render_job(TASK, template=default_template(), namespace="imports", job=JobSettings())
    pods = [*pod_specs(), job["spec"]["template"]["spec"]]
    with_group = [p["securityContext"] for p in pods if "fsGroup" in p["securityContext"]]
    assert with_group and all(sc["fsGroupChangePolicy"] == "OnRootMismatch" for sc in with_group)


def test_an_import_job_mounts_the_spool_lookaside_and_logs_never_the_repositories() -> None:
    job = render_job(TASK, template=default_template(), namespace="imports", job=JobSettings())
    (container,) = job["spec"]["template"]["spec"]["containers"]
    data = {m["mountPath"]: m["subPath"] for m in container["volumeMounts"] if m["name"] == "data"}
    root = JobSettings().data_mount_path
    assert data == {
        f"{root}/spool": "spool",
        f"{root}/lookaside": "lookaside",
        f"{root}/per-task-logs": "per-task-logs",
    }
    readonly = {m["name"] for m in container["volumeMounts"] if m.get("readOnly")}
    assert readonly == {"settings"}


def test_the_configmap_can_replace_the_job_image_live() -> None:
    job = JobSettings()
    assert live_job_settings(job, config={"job-image": "registry.example/job:2"}, image_key="job-image").image == (
        "registry.example/job:2"
    )
    assert live_job_settings(job, config={"job-image": "  "}, image_key="job-image") == job
    assert live_job_settings(job, config={}, image_key="job-image") == job
