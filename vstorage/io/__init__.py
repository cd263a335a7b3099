"""Data lifecycle: CSV export and import, backup and restore, the schema diagram.

Everything here runs through the database's writer queue and readers: nothing swaps files
under open connections.
"""

from vstorage.io.backup import BackupReport, RestoreReport, backup, restore
from vstorage.io.diagram import mermaid_er, svg_diagram
from vstorage.io.export import ExportReport, export_zip
from vstorage.io.importer import ImportReport, ZipLimits, import_csv, import_zip

__all__ = (
    "BackupReport",
    "ExportReport",
    "ImportReport",
    "RestoreReport",
    "ZipLimits",
    "backup",
    "export_zip",
    "import_csv",
    "import_zip",
    "mermaid_er",
    "restore",
    "svg_diagram",
)
