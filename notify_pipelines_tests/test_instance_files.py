"""Every shipped Dagster instance file validates against Dagster's instance schema, and each configurable class in it
(run launcher, storage, coordinator...) against that class's own schema, so a typo fails CI, not a deployment."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest
import yaml
from dagster._config import process_config
from dagster._core.instance.config import dagster_instance_config

ROOT = Path(__file__).resolve().parents[1]
INSTANCE_FILES = [ROOT / "dagster.yaml", ROOT / "deploy" / "dagster.yaml"]


def env_names(path: Path) -> set[str]:
    return set(re.findall(r"\{env:\s*([A-Z0-9_]+)\s*\}", path.read_text()))


def configurable_classes(node):
    """Every {module, class, config} block in the file, wherever it sits."""
    if isinstance(node, dict):
        if "module" in node and "class" in node:
            yield node
        for value in node.values():
            yield from configurable_classes(value)


@pytest.mark.parametrize("path", INSTANCE_FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_instance_file_validates(path, monkeypatch):
    for name in env_names(path):
        monkeypatch.setenv(name, "5432" if name.endswith("PORT") else "x")
    config, _ = dagster_instance_config(str(path.parent), path.name)  # raises DagsterInvalidConfigError on a typo
    assert config

    raw = yaml.safe_load(path.read_text())
    blocks = list(configurable_classes(raw))
    for block in blocks:
        module = re.sub(r"^dagster\.core\b", "dagster._core", block["module"])  # Dagster's own alias for its modules
        klass = getattr(importlib.import_module(module), block["class"])
        result = process_config(klass.config_type(), block.get("config") or {})
        assert result.success, f"{block['class']} in {path.name}: {[e.message for e in result.errors]}"
    if "postgres" in raw.get("storage", {}):
        from dagster_postgres import DagsterPostgresStorage

        result = process_config(DagsterPostgresStorage.config_type(), raw["storage"]["postgres"])
        assert result.success, [e.message for e in result.errors]


def test_a_typo_fails(tmp_path):
    (tmp_path / "dagster.yaml").write_text("concurrency:\n  pools:\n    default_limt: 4\n")
    with pytest.raises(Exception, match="default_limt"):
        dagster_instance_config(str(tmp_path), "dagster.yaml")


def test_the_production_file_uses_ecs_postgres_pools_and_run_monitoring():
    raw = yaml.safe_load((ROOT / "deploy" / "dagster.yaml").read_text())
    assert raw["run_launcher"]["class"] == "EcsRunLauncher"
    assert "postgres" in raw["storage"]
    assert raw["concurrency"]["pools"]["default_limit"] >= 1
    assert raw["run_monitoring"]["enabled"] is True
    assert raw["retention"]["schedule"]["purge_after_days"] > 0


@pytest.mark.parametrize("path", ["dagster.yaml", "deploy/dagster.yaml"])
def test_runs_whose_worker_died_are_retried_a_bounded_number_of_times_and_step_failures_are_left_to_the_steps(path):
    raw = yaml.safe_load((ROOT / path).read_text())
    assert raw["run_retries"] == {"enabled": True, "max_retries": 2, "retry_on_asset_or_op_failure": False}
