"""Fetching datasets from their canonical sources (only with ``--download``; tests never use it)."""

from __future__ import annotations

import hashlib
import os
import urllib.request
from pathlib import Path

from ..errors import UserError


def fetch(url: str, dest: Path, sha256: str | None = None) -> Path:
    """Download ``url`` to ``dest`` atomically; check its SHA-256 when one is known."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(dest.name + ".part")
    print(f"downloading {url} -> {dest}", flush=True)
    try:
        with urllib.request.urlopen(url, timeout=60) as response, open(tmp, "wb") as out:
            while chunk := response.read(1 << 20):
                out.write(chunk)
    except OSError as e:
        tmp.unlink(missing_ok=True)
        raise UserError(f"download of {url} failed ({e}); fetch it by hand into {dest.parent}") from None
    if sha256 is not None:
        digest = hashlib.sha256(tmp.read_bytes()).hexdigest()
        if digest != sha256:
            tmp.unlink(missing_ok=True)
            raise UserError(f"download of {url} is corrupt: sha256 {digest[:12]}... expected {sha256[:12]}...")
    os.replace(tmp, dest)
    return dest


def default_download_dir(name: str) -> Path:
    base = os.environ.get("GANFORGE_DATA") or Path.home() / ".ganforge" / "data"
    return Path(base) / name
