"""The thin API (reference §6): authenticated notification creation, provider callbacks and admin endpoints.

It writes the source tables the nightly Dagster work reads, and never imports Dagster.
"""
