"""The package's layering: each package imports on its own in a fresh interpreter, and a static scan of every import
keeps the layers apart (core below everything, domains beside each other, core and the API free of Dagster,
Dagster's and dagster-celery's internals behind the one adapter)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "notify_pipelines"
PACKAGES = ["core", "orchestration", "tooling", "db", "reporting", "retention", "monitoring", "printing",
            "notifications", "api"]
DOMAINS = {"reporting", "retention", "monitoring", "printing"}
ADAPTER = "notify_pipelines.orchestration.dagster_internals"


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def package_modules() -> dict[str, Path]:
    """Every module of the package except the Alembic revisions and env (run by Alembic, not imported)."""
    return {module_name(p): p for p in sorted(PACKAGE.rglob("*.py")) if "migrations" not in p.parts}


def imported_names(path: Path) -> set[str]:
    """Every module an import statement in the file names (`from a import b` gives a and a.b), at any depth."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, f"{path}: relative import; the scan reads absolute ones"
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def _layer(module: str) -> str | None:
    """The first-level package of one of ours (`notify_pipelines.core.settings` -> 'core'), else None."""
    parts = module.split(".")
    return parts[1] if parts[0] == "notify_pipelines" and len(parts) > 1 else None


def violations(module: str, imports: set[str]) -> list[str]:
    """What the module's imports break of the layering rules, one line each."""
    layer, broken = _layer(module), []
    for name in sorted(imports):
        target = _layer(name)
        if layer == "core" and name.startswith("notify_pipelines") and target != "core":
            broken.append(f"{module} (core) imports {name}: core imports nothing of ours outside core")
        if layer in {"core", "api"} and (name == "dagster" or name.startswith(("dagster.", "dagster_"))):
            broken.append(f"{module} ({layer}) imports {name}: {layer} never imports Dagster")
        if layer in DOMAINS and target is not None and target != layer and (
                target in DOMAINS or target in {"tooling", "definitions"}):
            broken.append(f"{module} (a domain) imports {name}: no other domain, tooling or the code location")
        if layer == "orchestration" and target is not None and target not in {"core", "db", "orchestration"}:
            broken.append(f"{module} (orchestration) imports {name}: only core, db and orchestration")
        if module != ADAPTER and (name.startswith("dagster._") or name == "dagster_celery"
                                  or name.startswith("dagster_celery.")):
            broken.append(f"{module} imports {name}: Dagster's and dagster-celery's internals only through {ADAPTER}")
    return broken


def test_the_package_keeps_its_layers():
    modules = package_modules()
    assert {"notify_pipelines.core.settings", ADAPTER, "notify_pipelines.tooling.worker"} <= set(modules)
    broken = [line for module, path in modules.items() for line in violations(module, imported_names(path))]
    assert broken == []


@pytest.mark.parametrize(("module", "imports"), [
    ("notify_pipelines.core.calendar", {"notify_pipelines.orchestration.resources"}),
    ("notify_pipelines.core.settings", {"dagster"}),
    ("notify_pipelines.retention.job", {"notify_pipelines.definitions"}),
    ("notify_pipelines.monitoring.sensors", {"notify_pipelines.reporting", "notify_pipelines.reporting.assets"}),
    ("notify_pipelines.printing.job", {"notify_pipelines.tooling.seed"}),
    ("notify_pipelines.orchestration.resources", {"notify_pipelines.retention.archive"}),
    ("notify_pipelines.api.server", {"dagster"}),
    ("notify_pipelines.api.routes.admin", {"dagster_slack"}),
    ("notify_pipelines.monitoring.alerts", {"dagster._core.scheduler.instigation"}),
    ("notify_pipelines.orchestration.celery_executor", {"dagster_celery.executor"}),
])
def test_each_rule_catches_the_import_it_forbids(module, imports):
    assert violations(module, imports)


def test_what_the_layers_allow_passes():
    assert violations("notify_pipelines.retention.job", {"notify_pipelines.core.vocabulary", "notify_pipelines.db",
                                                         "notify_pipelines.orchestration.executor_choice"}) == []
    assert violations(ADAPTER, {"dagster._config", "dagster_celery.executor"}) == []
    assert violations("notify_pipelines.tooling.worker", {"notify_pipelines.definitions"}) == []


@pytest.mark.parametrize("package", PACKAGES)
def test_each_package_imports_alone_in_a_fresh_interpreter(package):
    # The package first, then each of its modules in turn: an import circle fails whichever module enters it first.
    names = [name for name in package_modules() if _layer(name) == package]
    code = "import importlib, sys\nfor name in sys.argv[1:]:\n    importlib.import_module(name)\n"
    if package == "api":  # nothing the API loads, directly or not, brings Dagster in
        code += "assert not [m for m in sys.modules if m == 'dagster' or m.startswith('dagster_')], 'dagster loaded'\n"
    result = subprocess.run([sys.executable, "-c", code, *names], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
