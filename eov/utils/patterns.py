"""Glob patterns over dotted names (parameters, checkpoint keys, ``modality/task`` sources)."""
from __future__ import annotations

import fnmatch
from typing import Iterable


def match_any(name: str, patterns: Iterable[str]) -> bool:
    """True when ``name`` matches one of the glob ``patterns`` (``fnmatch``, case-sensitive)."""
    return any(fnmatch.fnmatchcase(name, p) for p in patterns)
