"""Content digests of files: one hash for each job.

- ``content_digest``: BLAKE2b-128 of a file's bytes, the key of cached segments and finished screening recordings
  (fast, and 128 bits are plenty to tell files apart);
- ``sha256``: SHA-256, the published fingerprint of model weights (what checksums elsewhere are given in).
"""

from __future__ import annotations

import hashlib
import os


def content_digest(path: str | os.PathLike) -> str:
    """BLAKE2b (128-bit) of a file's bytes, hex."""
    with open(path, "rb") as f:
        return hashlib.file_digest(f, lambda: hashlib.blake2b(digest_size=16)).hexdigest()


def sha256(path: str | os.PathLike) -> str:
    """SHA-256 of a file's bytes, hex."""
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()
