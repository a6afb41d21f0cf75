"""The one directory name that stores each topic.

Names may be hierarchical (``sensors/kitchen/temp``) but '/' must never reach the file system,
so every name becomes exactly one directory name: each byte of its UTF-8 form outside
``[a-z0-9._-]`` (and a leading '.') is written as ``%XX``. The result only contains
``[a-z0-9._%A-F-]``, never starts with '.', and so can neither nest, escape the data directory,
nor collide with the broker's own dot-prefixed scratch directories. Upper-case letters are
escaped too, so ``Orders`` and ``orders`` stay apart on case-insensitive file systems.

An encoding longer than a file name may be (non-ASCII names triple in size) is shortened to a
prefix plus a hash, marked with '~'; such a directory decodes through the metadata file the
broker keeps inside it, not through its name. Which names are valid at all is
:mod:`flymq.topic_names`.
"""

from __future__ import annotations

import hashlib

MAX_DIRNAME_CHARS = 200
_HASH_CHARS = 32
_SAFE = frozenset(b"abcdefghijklmnopqrstuvwxyz0123456789._-")


def topic_dirname(name: str) -> str:
    """The one directory name that stores topic ``name`` (which must be valid)."""
    data = name.encode("utf-8")
    parts = []
    for i, b in enumerate(data):
        if b in _SAFE and not (i == 0 and b == 0x2E):
            parts.append(chr(b))
        else:
            parts.append(f"%{b:02X}")
    encoded = "".join(parts)
    if len(encoded) <= MAX_DIRNAME_CHARS:
        return encoded
    digest = hashlib.sha256(data).hexdigest()[:_HASH_CHARS]
    prefix = encoded[:MAX_DIRNAME_CHARS - _HASH_CHARS - 1]
    cut = prefix.rfind("%", len(prefix) - 2)  # never split a %XX escape
    if cut != -1:
        prefix = prefix[:cut]
    return f"{prefix}~{digest}"


def topic_from_dirname(dirname: str) -> str | None:
    """The topic name a plain encoded directory name stands for; None for a shortened one or
    for a name this module never produces."""
    if "~" in dirname or not dirname or dirname.startswith("."):
        return None
    out = bytearray()
    i = 0
    while i < len(dirname):
        ch = dirname[i]
        if ch == "%":
            try:
                out.append(int(dirname[i + 1:i + 3], 16))
            except ValueError:
                return None
            i += 3
        elif ord(ch) < 128 and ord(ch) in _SAFE:
            out.append(ord(ch))
            i += 1
        else:
            return None
    try:
        name = out.decode("utf-8")
    except UnicodeDecodeError:
        return None
    return name if topic_dirname(name) == dirname else None
