"""File names made from untrusted text (titles, URLs, partition ids) that cannot leave their
folder."""

from __future__ import annotations

import hashlib
import re
import unicodedata
from pathlib import Path

_MAX_STEM_CHARS = 80
_UNSAFE_CHARS = re.compile(r"[^A-Za-z0-9._-]+")


def safe_stem(text: str, *, fallback: str = "file") -> str:
    """A file-name stem from any text: ASCII letters, digits, ``.``, ``_``, ``-`` only, at most 80
    chars.

    Unicode is folded to ASCII (NFKD), separators and odd characters become ``_``, leading dots are
    removed (no hidden files, no ``..``). Empty results fall back to ``fallback``.
    """
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    stem = _UNSAFE_CHARS.sub("_", folded).strip("._-")
    stem = re.sub(r"\.{2,}", ".", stem)[:_MAX_STEM_CHARS].strip("._-")
    return stem or fallback


def short_hash(text: str, length: int = 8) -> str:
    """The first ``length`` hex digits of the SHA-1 of ``text``: a stable, name-safe tag."""
    return hashlib.sha1(text.encode("utf-8"), usedforsecurity=False).hexdigest()[:length]


def path_inside(folder: str | Path, relative: str) -> Path:
    """``folder / relative``, refusing anything that would land outside ``folder``.

    Args:
        folder: the folder the result must stay in.
        relative: a relative name, possibly with ``/``-separated sub-folders (partition ids).

    Raises:
        ValueError: ``relative`` is empty, absolute, holds a NUL or ``..``, or resolves outside
            ``folder``.
    """
    if not relative or "\x00" in relative:
        raise ValueError(f"invalid file name {relative!r}: empty or holds a NUL character")
    candidate = Path(relative)
    if candidate.is_absolute() or any(part in ("..", "") for part in candidate.parts):
        raise ValueError(f"file name {relative!r} must be relative and stay inside {folder}")
    if any(len(part) > 255 for part in candidate.parts):
        raise ValueError(f"file name {relative[:60]!r}… is too long (over 255 characters a part)")
    root = Path(folder).resolve()
    resolved = (root / candidate).resolve()
    if root != resolved and root not in resolved.parents:
        raise ValueError(f"file name {relative!r} resolves outside {folder}")
    return resolved
