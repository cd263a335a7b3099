"""``python -m vstorage.cli``."""

from vstorage.cli._main import main

raise SystemExit(main())
