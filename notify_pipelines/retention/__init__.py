"""Nightly retention: archive past-retention notifications to history, delete test keys and letter PDFs."""
