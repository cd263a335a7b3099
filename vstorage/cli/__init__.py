"""The ``vstorage`` command: export, import, backup, restore, check, diagram, serve."""

from vstorage.cli._main import main

__all__ = ("main",)
