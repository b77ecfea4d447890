"""The code location loads with every asset, job, schedule and sensor the contract names."""

from __future__ import annotations


def test_definitions_load(database_url):
    from notify_pipelines.definitions import defs

    repository = defs.get_repository_def()
    assert repository is not None
