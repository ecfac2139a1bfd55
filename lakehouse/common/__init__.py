"""Shared leaf helpers: JSONL and record files, suggestions, path containment."""
