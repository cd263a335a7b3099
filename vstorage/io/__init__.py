"""Data lifecycle: the schema diagram (and, later, export, import, backup and restore)."""

from vstorage.io.diagram import mermaid_er, svg_diagram

__all__ = ("mermaid_er", "svg_diagram")
