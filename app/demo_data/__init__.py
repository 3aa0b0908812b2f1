"""Data files for ``smartcoders serve --demo`` (no code): real Synthea bundles, see ``synthea/SOURCES.md``."""

from __future__ import annotations

from pathlib import Path
from typing import Final

SYNTHEA_DIR: Final = Path(__file__).resolve().parent / "synthea"
