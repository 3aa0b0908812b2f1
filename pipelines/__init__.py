"""Metrics: pure polars pipelines over one organisation's frames (see README.md in this folder)."""
