"""Embedded default config files (package data: shipped by the ``*.yaml`` package-data rule)."""
