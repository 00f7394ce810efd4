# SPDX-License-Identifier: BSD-3-Clause
"""Shipped model weights: state dicts beside a ``manifest.json`` (format version, SHA-256, settings).

Loading checks the version and the checksum before ``torch.load(..., weights_only=True)`` (no code
runs from data); the caller then loads the state dict with ``strict=True``.
"""

from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path

from .errors import DualmodError

__all__ = ["load_checked", "save_checked"]


def load_checked(folder, name: str, version: int, *, how_to_make: str) -> tuple[dict, dict]:
    """(state dict, manifest entry) of model ``name`` in ``folder`` (a path or importlib resource)."""
    import torch

    try:
        manifest = json.loads((folder / "manifest.json").read_text())
        entry = manifest[name]
        blob = (folder / entry["file"]).read_bytes()
    except (FileNotFoundError, KeyError, json.JSONDecodeError) as exc:
        raise DualmodError(f"{name}: shipped weights are missing or unreadable ({exc}); {how_to_make}") from None
    if entry.get("version") != version:
        raise DualmodError(f"{name}: weights version {entry.get('version')} != {version}; {how_to_make}")
    if hashlib.sha256(blob).hexdigest() != entry["sha256"]:
        raise DualmodError(f"{name}: weights checksum mismatch (corrupt package data?)")
    return torch.load(io.BytesIO(blob), map_location="cpu", weights_only=True), entry


def save_checked(out, name: str, state_dict: dict, version: int, extra: dict) -> Path:
    """Write ``name.pt`` and its manifest entry (merged into ``out/manifest.json``); returns the manifest path."""
    import torch

    from ._io import atomic_write, write_json

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    torch.save(state_dict, buf)
    blob = buf.getvalue()
    atomic_write(out / f"{name}.pt", lambda p, b=blob: p.write_bytes(b))
    path = out / "manifest.json"
    manifest = json.loads(path.read_text()) if path.is_file() else {}
    manifest[name] = {"file": f"{name}.pt", "version": version, "sha256": hashlib.sha256(blob).hexdigest(), **extra}
    write_json(path, manifest)
    return path
