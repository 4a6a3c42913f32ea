"""A small 3D convolutional network for multiphase tumour crops (seed 000, MMF's deep branch).

The MMF system of seed 000 scores each patient with an ensemble of 3D CNNs on multiphase
(arterial, venous) tumour crops, trained with a Cox loss, and explains them with activation maps.
Its exact architecture is not public, so this is a deliberately small network that trains on two
CPU cores in minutes (see ``benchmarks/deep.md``)::

    input (phases, D, H, W)                      e.g. (2, 48, 48, 48), 1 mm voxels
    -> block 1:   Conv3d 3x3x3 stride 2 - GroupNorm - LeakyReLU - MaxPool3d 2   (24^3 -> 12^3)
    -> block i:   Conv3d 3x3x3 - GroupNorm - LeakyReLU - MaxPool3d 2            (12^3 -> 6^3)
    -> block n:   Conv3d 3x3x3 (+ bias) - LeakyReLU         the Grad-CAM layer  (6^3)
    -> global average pool -> Linear - LeakyReLU (the embedding, ``embedding_dim`` wide)
    -> Dropout -> heads: one Cox risk (log relative hazard) per survival endpoint,
                         one logit per binary endpoint.

Design choices, each checked on synthetic crops (``tests/test_deep.py``):

* **GroupNorm, not BatchNorm**, in the first blocks: a patient's score must not depend on which
  other patients share its training batch (a dozen patients per batch make batch statistics
  noisy).
* **No normalisation in the last block** (``norm="group_but_last"``): a per-sample
  normalisation (GroupNorm, InstanceNorm) right before global average pooling forces every
  patient's pooled features to the same mean and erases "how much of the crop is tumour", the
  simplest prognostic signal; in one run on synthetic spheres whose radius drives survival the
  out-of-fold C-index rose from 0.73 to 0.87 (oracle 0.87) without it.
* **LeakyReLU** (slope 0.01): with plain ReLU many units of the un-normalised last block and the
  embedding died early in training and some networks never left the initial plateau.
* **Stride-2 first convolution**: the first block works at 2 mm, which makes training about eight
  times cheaper than at the crop's 1 mm (the 48^3 backward pass dominated the run time).
* The last block is not pooled, so Grad-CAM (:mod:`hccfusion.deep.gradcam`) sees the finest map
  the network decides on (6^3 for 48^3 crops).

A Cox risk is identified only up to an additive constant (the partial likelihood is unchanged when
a constant is added to every risk). :attr:`CropNet.risk_offset` is a buffer, set after training to
each risk's mean over the network's own training patients and subtracted in :meth:`forward`, so
that risks of different networks (folds, ensemble members) share an origin and can be averaged
and pooled. It is saved with the state dict.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass

import torch
from torch import nn

__all__ = ["NORMS", "Architecture", "CropNet", "build_model"]

NORMS = ("group_but_last", "group", "batch", "none")


@dataclass(frozen=True)
class Architecture:
    """Everything needed to rebuild a :class:`CropNet` (stored in the weights file's meta).

    Attributes:
        in_channels: number of phases (input channels).
        widths: output channels of each conv block (``len(widths)`` blocks).
        stem_stride: stride of the first convolution (2: the first block works at 2 mm, which
            makes training about eight times cheaper than at the crop's 1 mm).
        embedding_dim: width of the embedding layer.
        survival: names of the survival endpoints (one risk output each, in this order).
        binary: names of the binary endpoints (one logit each, in this order).
        norm: ``"group_but_last"`` (GroupNorm in every block but the last), ``"group"``,
            ``"batch"`` (BatchNorm3d) or ``"none"``.
        groups: GroupNorm groups (reduced to a divisor of a block's width when needed).
        dropout: dropout after the embedding (training only).
    """

    in_channels: int = 2
    widths: tuple[int, ...] = (16, 32, 64)
    stem_stride: int = 2
    embedding_dim: int = 16
    survival: tuple[str, ...] = ("os", "pfs")
    binary: tuple[str, ...] = ("response",)
    norm: str = "group_but_last"
    groups: int = 4
    dropout: float = 0.2

    def to_dict(self) -> dict:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, values: Mapping) -> Architecture:
        known = {f for f in cls.__dataclass_fields__}
        unknown = set(values) - known
        if unknown:
            raise ValueError(f"unknown architecture keys: {', '.join(sorted(unknown))}")
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in values.items()})


def _groups(width: int, groups: int) -> int:
    g = max(1, min(groups, width))
    while width % g:
        g -= 1
    return g


class CropNet(nn.Module):
    """The network of the module docstring; ``forward`` returns a dict of tensors.

    ``forward(x)`` with ``x`` of shape ``(n, phases, D, H, W)`` gives ``{"risk": (n, n_survival),
    "logit": (n, n_binary), "embedding": (n, embedding_dim)}``. Any crop size at least
    ``2 ** (len(widths) - 1)`` voxels per axis is accepted (global average pooling).
    """

    def __init__(self, arch: Architecture = Architecture()) -> None:
        super().__init__()
        if not arch.widths:
            raise ValueError("the network needs at least one conv block (widths is empty)")
        if arch.norm not in NORMS:
            raise ValueError(f"norm must be one of {', '.join(NORMS)}, got {arch.norm!r}")
        if not arch.survival and not arch.binary:
            raise ValueError("the network needs at least one survival or binary endpoint")
        self.arch = arch
        blocks = []
        cin = arch.in_channels
        for i, width in enumerate(arch.widths):
            stride = arch.stem_stride if i == 0 else 1
            last = i == len(arch.widths) - 1
            if arch.norm == "batch":
                norm = nn.BatchNorm3d(width)
            elif arch.norm == "group" or (arch.norm == "group_but_last" and not last):
                norm = nn.GroupNorm(_groups(width, arch.groups), width)
            else:
                norm = nn.Identity()
            blocks.append(nn.Sequential(
                nn.Conv3d(cin, width, kernel_size=3, stride=stride, padding=1,
                          bias=isinstance(norm, nn.Identity)),
                norm,
                nn.LeakyReLU(0.01, inplace=True),
            ))
            cin = width
        self.blocks = nn.ModuleList(blocks)
        self.pool = nn.MaxPool3d(2)
        self.embed = nn.Sequential(nn.Linear(cin, arch.embedding_dim),
                                   nn.LeakyReLU(0.01, inplace=True))
        self.dropout = nn.Dropout(arch.dropout)
        self.risk_head = nn.Linear(arch.embedding_dim, len(arch.survival)) if arch.survival else None
        self.logit_head = nn.Linear(arch.embedding_dim, len(arch.binary)) if arch.binary else None
        self.register_buffer("risk_offset", torch.zeros(len(arch.survival)))

    def conv_features(self, x: torch.Tensor) -> torch.Tensor:
        """Activation of the last conv block (after its LeakyReLU): the Grad-CAM layer."""
        last = len(self.blocks) - 1
        for i, block in enumerate(self.blocks):
            x = block(x)
            if i < last:
                x = self.pool(x)
        return x

    def from_features(self, features: torch.Tensor) -> dict[str, torch.Tensor]:
        """Heads on top of :meth:`conv_features` (global average pool, embedding, outputs)."""
        pooled = features.mean(dim=(2, 3, 4))
        emb = self.embed(pooled)
        h = self.dropout(emb)
        n = features.shape[0]
        if self.risk_head is not None:
            risk = self.risk_head(h) - self.risk_offset
        else:
            risk = features.new_zeros((n, 0))
        logit = self.logit_head(h) if self.logit_head is not None else features.new_zeros((n, 0))
        return {"risk": risk, "logit": logit, "embedding": emb}

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        return self.from_features(self.conv_features(x))

    def head_index(self, endpoint: str) -> tuple[str, int]:
        """``("risk", i)`` or ``("logit", i)``: where ``endpoint``'s output is."""
        if endpoint in self.arch.survival:
            return "risk", self.arch.survival.index(endpoint)
        if endpoint in self.arch.binary:
            return "logit", self.arch.binary.index(endpoint)
        known = ", ".join(self.arch.survival + self.arch.binary)
        raise KeyError(f"the network has no head for endpoint {endpoint!r} (heads: {known})")


def build_model(arch: Architecture | Mapping | None = None, **overrides) -> CropNet:
    """A :class:`CropNet` from an :class:`Architecture`, its dict form, or keyword overrides."""
    if arch is None:
        arch = Architecture()
    elif isinstance(arch, Mapping):
        arch = Architecture.from_dict(arch)
    if overrides:
        arch = Architecture.from_dict({**arch.to_dict(), **overrides})
    return CropNet(arch)

