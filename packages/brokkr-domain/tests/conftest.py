"""The domain's tests: ``domain_support`` (beside this file) holds helpers shared by several test modules; the
test directory is put on ``sys.path`` so they can import it (``--import-mode=importlib`` does not)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
