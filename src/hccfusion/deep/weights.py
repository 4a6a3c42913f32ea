"""Trained deep-branch networks on disk, loaded without executing code from the file.

:func:`save_weights` writes ``path`` with ``torch.save`` of plain data only: a dict holding the
format name and version, the metadata as a JSON string, and the state dicts (``{group: [member
state dict, ...]}``, tensors only). Next to it, ``<path>.json`` (the *sidecar*) holds the same
metadata plus the file's SHA-256, its size and the torch version that wrote it.

:func:`load_weights` defends in two layers:

1. the file's SHA-256 must equal the sidecar's (or ``expected_sha256``), checked on the very bytes
   that are then deserialised; a flipped byte or a swapped file is refused, naming the file;
2. the bytes are read with ``torch.load(..., weights_only=True)``, PyTorch's restricted unpickler
   that rebuilds only tensors, primitive types and plain containers and refuses every other
   global, so a file carrying a pickled arbitrary object (whose ``__reduce__`` would run code under
   plain ``pickle``) is refused without running it, even when an attacker also rewrote the
   sidecar's hash. The loaded structure is then checked (every state-dict value a tensor).

As in :mod:`hccfusion.persist`, the hash is not a signature: the restricted loader (layer 2) is
what keeps foreign code out; the hash catches corruption and mix-ups.
"""

from __future__ import annotations

import hashlib
import io
import json
import pickle
from collections.abc import Mapping
from os import PathLike
from pathlib import Path

import torch

from hccfusion.errors import HccfusionError

__all__ = ["WeightsFileError", "load_ensemble", "load_weights", "save_weights", "sidecar_path"]

FORMAT = "hccfusion-deep-weights"
FORMAT_VERSION = 1

PathType = str | PathLike[str]


class WeightsFileError(HccfusionError):
    """A weights file that is refused (hash mismatch, foreign objects, wrong structure)."""


def sidecar_path(path: PathType) -> Path:
    """``<path>.json``: the metadata and SHA-256 written next to a weights file."""
    path = Path(path)
    return path.with_name(path.name + ".json")


def _groups(state_dicts) -> dict[str, list[dict[str, torch.Tensor]]]:
    if isinstance(state_dicts, Mapping) and all(isinstance(v, torch.Tensor)
                                                for v in state_dicts.values()):
        state_dicts = {"full": [state_dicts]}  # one bare state dict
    elif not isinstance(state_dicts, Mapping):
        state_dicts = {"full": list(state_dicts)}  # a list of members
    out = {}
    for group, members in state_dicts.items():
        members = [members] if isinstance(members, Mapping) else list(members)
        clean = []
        for state in members:
            if not all(isinstance(v, torch.Tensor) for v in state.values()):
                raise TypeError(f"state dict of group {group!r} holds values that are not tensors")
            clean.append({str(k): v.detach().cpu().clone().contiguous() for k, v in state.items()})
        out[str(group)] = clean
    return out


def save_weights(path: PathType, state_dicts, meta: Mapping | None = None) -> dict:
    """Write the networks to ``path`` and the metadata + SHA-256 to :func:`sidecar_path`.

    ``state_dicts`` is ``{group: [state dict, ...]}`` (as
    :attr:`hccfusion.deep.train.EnsembleResult.state_dicts`), a list of state dicts, or one state
    dict. ``meta`` must be JSON-serialisable (e.g. the result's ``meta``, which holds the
    architecture). Returns the sidecar's content (``meta`` plus ``sha256``, ``bytes``, ``file``,
    ``format``, ``torch``).
    """
    groups = _groups(state_dicts)
    meta = dict(meta or {})
    meta_json = json.dumps(meta, sort_keys=True)
    payload = {"format": FORMAT, "format_version": FORMAT_VERSION, "meta": meta_json,
               "state_dicts": groups}
    buf = io.BytesIO()
    torch.save(payload, buf)
    data = buf.getvalue()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    sidecar = {**meta, "file": path.name, "format": FORMAT, "format_version": FORMAT_VERSION,
               "sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data),
               "torch": torch.__version__,
               "groups": {g: len(m) for g, m in groups.items()}}
    sidecar_path(path).write_text(json.dumps(sidecar, indent=1, sort_keys=True) + "\n")
    return sidecar


def load_weights(path: PathType, *, expected_sha256: str | None = None, verify: bool = True
                 ) -> tuple[dict[str, list[dict[str, torch.Tensor]]], dict]:
    """Read a file written by :func:`save_weights`: ``(state_dicts, meta)``.

    The SHA-256 is checked against ``expected_sha256`` if given, else against the sidecar
    (``verify=False`` skips the check when there is neither). ``meta`` is the stored metadata with
    ``sha256`` set to the hash of the bytes read. Raises :class:`WeightsFileError`.
    """
    path = Path(path)
    if not path.is_file():
        raise WeightsFileError(f"weights file {path} does not exist")
    data = path.read_bytes()
    sha = hashlib.sha256(data).hexdigest()
    expected = expected_sha256
    side = sidecar_path(path)
    if expected is None and side.is_file():
        try:
            expected = json.loads(side.read_text()).get("sha256")
        except (ValueError, AttributeError) as exc:
            raise WeightsFileError(f"sidecar {side} is not valid JSON ({exc})") from None
    if expected is None and verify:
        raise WeightsFileError(f"weights file {path}: no SHA-256 to check against (sidecar {side} "
                               "missing); pass expected_sha256 or verify=False")
    if expected is not None and sha != expected:
        raise WeightsFileError(f"weights file {path}: SHA-256 {sha} differs from the expected "
                               f"{expected} (file altered or swapped)")
    try:
        payload = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, AttributeError, TypeError, ValueError,
            EOFError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise WeightsFileError(
            f"weights file {path} refused: it is not plain tensors and containers "
            f"(torch.load weights_only=True: {first})") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise WeightsFileError(f"weights file {path} is not a {FORMAT} file")
    if payload.get("format_version") != FORMAT_VERSION:
        raise WeightsFileError(f"weights file {path} has format version "
                               f"{payload.get('format_version')!r}, expected {FORMAT_VERSION}")
    groups = payload.get("state_dicts")
    if not isinstance(groups, dict) or not all(
            isinstance(members, list) and all(
                isinstance(s, dict) and all(isinstance(v, torch.Tensor) for v in s.values())
                for s in members)
            for members in groups.values()):
        raise WeightsFileError(f"weights file {path}: state dicts are not tensors only")
    try:
        meta = json.loads(payload.get("meta") or "{}")
    except (TypeError, ValueError) as exc:
        raise WeightsFileError(f"weights file {path}: metadata is not JSON ({exc})") from None
    meta["sha256"] = sha
    return groups, meta


def load_ensemble(path: PathType, group: str = "full", **kwargs) -> tuple[list, dict]:
    """The networks of one group of a weights file, ready to score: ``(models, meta)``.

    The file's meta must hold the ``architecture`` (as :func:`hccfusion.deep.train.fit_ensemble`'s
    ``meta`` does). Further keywords go to :func:`load_weights`.
    """
    from hccfusion.deep.model import Architecture, CropNet

    groups, meta = load_weights(path, **kwargs)
    if group not in groups:
        raise WeightsFileError(f"weights file {path} has no group {group!r} "
                               f"(groups: {', '.join(groups)})")
    if "architecture" not in meta:
        raise WeightsFileError(f"weights file {path}: metadata has no architecture")
    arch = Architecture.from_dict(meta["architecture"])
    models = []
    for state in groups[group]:
        model = CropNet(arch)
        try:
            model.load_state_dict(state)
        except RuntimeError as exc:
            raise WeightsFileError(f"weights file {path}: state dict does not fit the "
                                   f"architecture ({str(exc).splitlines()[0]})") from None
        model.eval()
        models.append(model)
    return models, meta

