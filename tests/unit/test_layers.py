"""The layering rules, checked on the source: a pure core, one adapter per outside thing."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "controller" / "copr_importer"


def imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            names.add("." * node.level + (node.module or ""))
    return names


def modules() -> dict[str, set[str]]:
    return {str(p.relative_to(PACKAGE)): imports(p) for p in PACKAGE.rglob("*.py")}


def test_the_core_does_no_io_and_knows_no_adapter() -> None:
    forbidden = ("requests", "git", "gitdb", "kubernetes", "urllib3", "subprocess", "os", "shutil", "socket")
    for name, imported in modules().items():
        if name.startswith("core/"):
            bad = {i for i in imported if i.split(".")[0] in forbidden or "adapters" in i or "app" in i.split(".")}
            assert not bad, f"{name} imports {bad}"


def test_only_the_kubernetes_adapter_imports_kubernetes() -> None:
    users = {n for n, imported in modules().items() if any(i.split(".")[0] == "kubernetes" for i in imported)}
    assert users == {"adapters/kube.py"}


def test_only_the_git_store_imports_git() -> None:
    # libgit2 for one repository's objects and refs, git's own commands for whole repositories.
    libraries = ("git", "gitdb", "pygit2")
    users = {n for n, imported in modules().items() if any(i.split(".")[0] in libraries for i in imported)}
    assert users == {"adapters/packagerepo.py", "adapters/gitmaintenance.py"}


def test_only_the_metrics_adapter_imports_prometheus_client() -> None:
    users = {n for n, imported in modules().items() if any(i.split(".")[0] == "prometheus_client" for i in imported)}
    assert users == {"adapters/metrics.py"}
