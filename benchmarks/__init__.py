"""Benchmarks of vstorage against plain SQLAlchemy and sqlite3 (``python -m benchmarks``)."""
