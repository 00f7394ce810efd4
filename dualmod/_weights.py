# SPDX-License-Identifier: BSD-3-Clause
"""Shipped model weights: state dicts beside a ``manifest.json`` (format version, SHA-256, settings).

Two containers, both pure data: ``.safetensors`` (read with ``safetensors.numpy``, so a model that
runs without torch loads without importing it) and ``.pt`` (read with ``torch.load(...,
weights_only=True)``). Loading checks the version and the checksum before parsing; the caller then
loads the state dict strictly (every key, every shape).
"""

from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path

from .errors import DualmodError

__all__ = ["load_checked", "save_checked"]


def load_checked(folder, name: str, version: int, *, how_to_make: str, as_numpy: bool = False) -> tuple[dict, dict]:
    """(state dict, manifest entry) of model ``name`` in ``folder`` (a path or importlib resource).

    The state dict holds torch tensors, or numpy arrays with ``as_numpy`` (no torch import for a
    ``.safetensors`` file).
    """
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
    if entry["file"].endswith(".safetensors"):
        from safetensors import SafetensorError
        from safetensors.numpy import load

        try:
            state = load(blob)
        except SafetensorError as exc:
            raise DualmodError(f"{name}: unreadable weights ({exc})") from None
        if not as_numpy:
            import torch

            state = {k: torch.from_numpy(v) for k, v in state.items()}
        return state, entry
    import torch

    state = torch.load(io.BytesIO(blob), map_location="cpu", weights_only=True)
    return ({k: v.numpy() for k, v in state.items()} if as_numpy else state), entry


def save_checked(out, name: str, state_dict: dict, version: int, extra: dict, *, container: str = "pt") -> Path:
    """Write ``name.pt`` or ``name.safetensors`` (``container``) and its manifest entry (merged into
    ``out/manifest.json``); returns the manifest path."""
    from ._io import atomic_write, write_json

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    if container == "safetensors":
        from safetensors.numpy import save

        blob = save({k: v.detach().cpu().numpy() for k, v in state_dict.items()})
    elif container == "pt":
        import torch

        buf = io.BytesIO()
        torch.save(state_dict, buf)
        blob = buf.getvalue()
    else:
        raise ValueError(f"container must be 'pt' or 'safetensors', got {container!r}")
    file = f"{name}.{container}"
    atomic_write(out / file, lambda p, b=blob: p.write_bytes(b))
    path = out / "manifest.json"
    manifest = json.loads(path.read_text()) if path.is_file() else {}
    stale = manifest.get(name, {}).get("file")
    manifest[name] = {"file": file, "version": version, "sha256": hashlib.sha256(blob).hexdigest(), **extra}
    write_json(path, manifest)
    if stale and stale != file and (out / Path(stale).name).is_file():
        (out / Path(stale).name).unlink()  # the other container's file, which the manifest no longer names
    return path
