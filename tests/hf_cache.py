"""Build a Hugging Face cache on disk in the layout huggingface_hub reads, for offline tests.

``models--OWNER--NAME/blobs/<sha256>`` holds the bytes, ``snapshots/<commit>/<file>``
is a relative symlink to the blob, and ``refs/<branch>`` holds the commit hash, as
``hf_hub_download`` leaves them after a real download.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path


def add_to_hf_cache(cache: Path, repo_id: str, filename: str, data: bytes,
                    commit: str = "a" * 40, branch: str | None = "main") -> Path:
    """Put ``data`` in ``cache`` as ``filename`` of ``repo_id`` at ``commit``; returns the snapshot path."""
    repo = cache / ("models--" + repo_id.replace("/", "--"))
    digest = hashlib.sha256(data).hexdigest()
    blob = repo / "blobs" / digest
    blob.parent.mkdir(parents=True, exist_ok=True)
    blob.write_bytes(data)
    pointer = repo / "snapshots" / commit / filename
    pointer.parent.mkdir(parents=True, exist_ok=True)
    if pointer.is_symlink() or pointer.exists():
        pointer.unlink()
    pointer.symlink_to(os.path.relpath(blob, pointer.parent))
    if branch:
        ref = repo / "refs" / branch
        ref.parent.mkdir(parents=True, exist_ok=True)
        ref.write_text(commit)
    return pointer
