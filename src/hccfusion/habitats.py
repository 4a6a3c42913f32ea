"""Tumour habitats and intratumour heterogeneity (ITH) from dual-phase CT (seed paper 002).

Seed 002 (Jin Z-C et al., Hepatology 2025, GTR-ITH) over-segments each tumour into SLIC
supervoxels and describes heterogeneity by radiomics of the sub-regions. This module follows the
usual habitat-imaging recipe (Napel S et al., Cancer 2018;124:4633-4649; Wu J et al., Radiology
2017;285:401-413):

1. **Voxel features** (per patient): the arterial and portal-venous phases are resampled (linear)
   onto a common 1 mm grid around the tumour; each tumour voxel gets its arterial and venous HU,
   their local mean and SD in the 3 x 3 x 3 neighbourhood restricted to the tumour, and the
   arterial-minus-venous difference (wash-out; wash-in would need an unenhanced phase).
2. **Supervoxels** (per patient): SLIC (Achanta R et al., IEEE TPAMI 2012;34:2274-2282;
   ``skimage.segmentation.slic`` with the tumour mask, as in seed 002) on the per-patient
   z-scored local means of both phases; each supervoxel is summarised by its mean voxel features.
3. **Habitats** (cohort): k-means on the standardised supervoxel vectors (default: mean arterial
   and venous HU, :data:`HABITAT_FEATURES`) pooled over TRAINING patients only, weighted by
   supervoxel volume; K fixed by the caller or chosen by the
   silhouette (Rousseeuw PJ, J Comput Appl Math 1987;20:53-65). Habitats are numbered 1..K by
   increasing mean arterial HU of their centre, so the necrotic (non-enhancing) habitat is 1 and
   labels are stable across runs. The fitted :class:`HabitatModel` is plain JSON (no pickle) and
   is applied frozen to validation patients.
4. **ITH metrics** (per patient): habitat volume fractions, their Shannon entropy, the number of
   connected sub-regions per habitat, and ITHscore (Li J et al., Eur Radiol 2023;33:893-903).
   :func:`habitat_masks` / :func:`habitat_radiomics` run PyRadiomics per habitat.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from os import PathLike
from pathlib import Path

import numpy as np
import pandas as pd
import SimpleITK as sitk
from scipy import ndimage as ndi
from skimage.segmentation import slic
from sklearn.cluster import KMeans
from sklearn.metrics import silhouette_score

from hccfusion.errors import PatientInputError
from hccfusion.imaging.preprocess import resample_mask
from hccfusion.radiomics import extract

__all__ = [
    "HABITAT_FEATURES",
    "VOXEL_FEATURES",
    "HabitatModel",
    "fit_population",
    "habitat_masks",
    "habitat_radiomics",
    "ith_metrics",
    "supervoxels",
    "voxel_features",
]

log = logging.getLogger(__name__)

PathType = str | PathLike[str]

#: Per-voxel features (columns of the supervoxel table, as supervoxel means).
VOXEL_FEATURES = (
    "arterial",
    "venous",
    "arterial_mean3",
    "venous_mean3",
    "arterial_sd3",
    "venous_sd3",
    "arterial_minus_venous",
)
#: Supervoxel features clustered into habitats by default: mean enhancement in both phases (the
#: usual definition of perfusion habitats). Adding the local SDs lets k-means spend a cluster on
#: texture, which on the demo made the necrotic habitat unstable across training sets; the
#: difference is a linear combination of the two phases, so it adds nothing to k-means.
HABITAT_FEATURES = ("arterial", "venous")
#: Smallest supervoxel SLIC is asked for (voxels of 1 mm^3); seed 002 drops sub-regions <= 3^3.
MIN_SUPERVOXEL_VOXELS = 27
#: Candidate K of the silhouette search when the caller does not fix K.
K_RANGE = (2, 3, 4, 5, 6)
#: Minimum voxels of a habitat for per-habitat radiomics (texture needs a few dozen voxels).
MIN_HABITAT_VOXELS = 64
_AIR_HU = -1024.0


# --------------------------------------------------------------------------------------------
# per patient: voxel features and supervoxels
# --------------------------------------------------------------------------------------------
def _reference_grid(mask: sitk.Image, spacing: float, margin_mm: float) -> sitk.Image:
    """A ``spacing`` mm grid with the mask's orientation covering its bounding box + margin."""
    arr = sitk.GetArrayViewFromImage(mask)
    nz = np.nonzero(arr)
    if len(nz[0]) == 0:
        raise PatientInputError("mask is empty")
    sp = np.asarray(mask.GetSpacing())
    lo = np.array([a.min() for a in nz][::-1], dtype=float)  # x, y, z index
    hi = np.array([a.max() for a in nz][::-1], dtype=float)
    lo_mm = (lo - 0.5) * sp - margin_mm
    hi_mm = (hi + 0.5) * sp + margin_mm
    size = np.maximum(np.ceil((hi_mm - lo_mm) / spacing).astype(int), 1)
    direction = np.asarray(mask.GetDirection()).reshape(3, 3)
    origin = np.asarray(mask.GetOrigin()) + direction @ (lo_mm + 0.5 * spacing)
    ref = sitk.Image([int(s) for s in size], sitk.sitkUInt8)
    ref.SetSpacing([spacing] * 3)
    ref.SetDirection(mask.GetDirection())
    ref.SetOrigin(tuple(origin))
    return ref


def _to_grid(image: sitk.Image, ref: sitk.Image) -> np.ndarray:
    out = sitk.Resample(image, ref, sitk.Transform(), sitk.sitkLinear, _AIR_HU, sitk.sitkFloat32)
    return sitk.GetArrayFromImage(out).astype(np.float64)


def _local_stats(x: np.ndarray, m: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and SD over the 3x3x3 neighbourhood restricted to the mask (normalised convolution)."""
    w = ndi.uniform_filter(m.astype(np.float64), 3, mode="constant")
    xm = np.where(m, x, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):  # w = 0 only outside the mask
        mean = ndi.uniform_filter(xm, 3, mode="constant") / w
        sq = ndi.uniform_filter(xm * xm, 3, mode="constant") / w
        sd = np.sqrt(np.maximum(sq - mean * mean, 0.0))
    return np.where(m, mean, 0.0), np.where(m, sd, 0.0)


def voxel_features(
    arterial: sitk.Image,
    venous: sitk.Image,
    mask: sitk.Image,
    *,
    spacing: float = 1.0,
    margin_mm: float = 2.0,
) -> tuple[sitk.Image, np.ndarray, dict[str, np.ndarray]]:
    """Voxel features of both phases inside the tumour on a common isotropic grid.

    The grid has ``spacing`` mm voxels, the mask's orientation, and covers the mask's bounding box
    plus ``margin_mm``. Both phases are linearly interpolated (no B-spline overshoot); the mask
    (on either phase's grid, normally the arterial one) is linearly interpolated and thresholded
    at 0.5. The phases are assumed to be registered (same patient coordinate frame).

    Returns
    -------
    (reference, mask, features):
        The grid as an empty uint8 image, the boolean tumour mask (z, y, x) on it, and
        ``{name: array}`` for every name of :data:`VOXEL_FEATURES` (0 outside the tumour).
    """
    ref = _reference_grid(mask, spacing, margin_mm)
    m = sitk.GetArrayFromImage(resample_mask(sitk.Cast(mask != 0, sitk.sitkUInt8), ref)) > 0
    if not m.any():  # a lesion thinner than the grid step: fall back to nearest neighbour
        nn = sitk.Resample(sitk.Cast(mask != 0, sitk.sitkUInt8), ref, sitk.Transform(),
                           sitk.sitkNearestNeighbor, 0)
        m = sitk.GetArrayFromImage(nn) > 0
    if not m.any():
        raise PatientInputError("mask is empty on the 1 mm habitat grid")
    a, v = _to_grid(arterial, ref), _to_grid(venous, ref)
    a_mean, a_sd = _local_stats(a, m)
    v_mean, v_sd = _local_stats(v, m)
    feats = {
        "arterial": np.where(m, a, 0.0),
        "venous": np.where(m, v, 0.0),
        "arterial_mean3": a_mean,
        "venous_mean3": v_mean,
        "arterial_sd3": a_sd,
        "venous_sd3": v_sd,
        "arterial_minus_venous": np.where(m, a - v, 0.0),
    }
    return ref, m, feats


def supervoxels(
    arterial: sitk.Image,
    venous: sitk.Image,
    mask: sitk.Image,
    *,
    n_segments: int = 100,
    seed: int = 0,
    compactness: float = 0.5,
    spacing: float = 1.0,
) -> tuple[sitk.Image, pd.DataFrame]:
    """SLIC supervoxels of the tumour on the common 1 mm grid, with their mean voxel features.

    SLIC (Achanta et al. 2012) runs in 3-D on the per-patient z-scored 3x3x3 local means of the
    arterial and venous phases (``skimage.segmentation.slic`` with the tumour as mask and
    connectivity enforced), as seed 002 does with ``n_segment = 100``. Fewer segments are
    requested for small tumours so that a supervoxel has at least
    :data:`MIN_SUPERVOXEL_VOXELS` voxels on average. ``compactness`` weighs space against the
    (unit-SD) intensity distance. SLIC's initialisation is a regular grid, so the result is
    deterministic; ``seed`` is accepted for interface symmetry with other clusterings.

    Returns
    -------
    (label_image, table):
        uint32 image on the 1 mm grid (0 outside the tumour, supervoxels 1..S) and a DataFrame
        indexed by supervoxel label with ``n_voxels``, ``volume_mm3`` and the mean of every
        :data:`VOXEL_FEATURES` entry.
    """
    ref, m, feats = voxel_features(arterial, venous, mask, spacing=spacing)
    n_vox = int(m.sum())
    n_seg = int(max(1, min(n_segments, n_vox // MIN_SUPERVOXEL_VOXELS)))
    channels = []
    for name in ("arterial_mean3", "venous_mean3"):
        x = feats[name]
        mu, sd = x[m].mean(), x[m].std()
        channels.append((x - mu) / (sd if sd > 0 else 1.0))
    if n_seg == 1:
        labels = m.astype(np.int64)
    else:
        labels = slic(
            np.stack(channels, axis=-1), n_segments=n_seg, compactness=compactness, mask=m,
            start_label=1, channel_axis=-1, enforce_connectivity=True,
        )
        labels = np.where(m, labels, 0)
    labels = _relabel(labels)
    label_image = sitk.GetImageFromArray(labels.astype(np.uint32))
    label_image.CopyInformation(ref)
    table = _supervoxel_table(labels, feats, spacing**3)
    return label_image, table


def _relabel(labels: np.ndarray) -> np.ndarray:
    """Consecutive labels 1..S in order of first appearance in raster order (0 stays 0)."""
    flat = labels.ravel()
    values, first = np.unique(flat, return_index=True)
    keep = values != 0
    order = values[keep][np.argsort(first[keep])]
    lut = np.zeros(int(flat.max()) + 1, dtype=np.int64)
    lut[order] = np.arange(1, len(order) + 1)
    return lut[labels]


def _supervoxel_table(labels: np.ndarray, feats: Mapping[str, np.ndarray], voxel_mm3: float):
    flat = labels.ravel()
    n = int(flat.max())
    counts = np.bincount(flat, minlength=n + 1)[1:]
    data = {"n_voxels": counts, "volume_mm3": counts * voxel_mm3}
    for name in VOXEL_FEATURES:
        sums = np.bincount(flat, weights=feats[name].ravel(), minlength=n + 1)[1:]
        data[name] = sums / np.maximum(counts, 1)
    table = pd.DataFrame(data, index=pd.RangeIndex(1, n + 1, name="supervoxel"))
    return table[counts > 0]


# --------------------------------------------------------------------------------------------
# cohort: habitat model
# --------------------------------------------------------------------------------------------
@dataclass
class HabitatModel:
    """Population habitat model: standardisation + k-means centres, frozen after fitting.

    Attributes
    ----------
    features:
        Supervoxel table columns used (order matters).
    mean, scale:
        Volume-weighted mean and SD of each feature over the training supervoxels.
    centres:
        (k, n_features) cluster centres in standardised units, habitat 1 first.
    k:
        Number of habitats.
    silhouette:
        ``{K: silhouette}`` of the search, empty when K was fixed by the caller.
    n_train_patients, n_train_supervoxels:
        Size of the training data (provenance).
    """

    features: list[str]
    mean: np.ndarray
    scale: np.ndarray
    centres: np.ndarray
    k: int
    silhouette: dict[int, float] = field(default_factory=dict)
    n_train_patients: int = 0
    n_train_supervoxels: int = 0

    def predict(self, table: pd.DataFrame) -> pd.Series:
        """Habitat (1..k) of every supervoxel row of ``table`` (nearest centre)."""
        missing = [f for f in self.features if f not in table.columns]
        if missing:
            raise ValueError(f"supervoxel table lacks habitat features {missing}")
        z = (table[self.features].to_numpy(dtype=np.float64) - self.mean) / self.scale
        d2 = ((z[:, None, :] - self.centres[None, :, :]) ** 2).sum(axis=2)
        return pd.Series(np.argmin(d2, axis=1) + 1, index=table.index, name="habitat")

    def assign(self, label_image: sitk.Image, table: pd.DataFrame) -> sitk.Image:
        """Habitat map (uint8, 0 outside the tumour, habitats 1..k) of one patient.

        ``label_image`` and ``table`` are the output of :func:`supervoxels`; the model is not
        changed (any patient, including validation patients, can be assigned).
        """
        habitat = self.predict(table)
        labels = sitk.GetArrayViewFromImage(label_image)
        lut = np.zeros(int(max(labels.max(), table.index.max())) + 1, dtype=np.uint8)
        lut[habitat.index.to_numpy()] = habitat.to_numpy()
        out = sitk.GetImageFromArray(lut[labels])
        out.CopyInformation(label_image)
        return out

    def centres_table(self) -> pd.DataFrame:
        """Centres in the original units (HU), one row per habitat."""
        return pd.DataFrame(
            self.centres * self.scale + self.mean,
            index=pd.RangeIndex(1, self.k + 1, name="habitat"),
            columns=self.features,
        )

    def to_dict(self) -> dict:
        return {
            "method": "k-means on standardised supervoxel features (hccfusion.habitats)",
            "k": self.k,
            "features": list(self.features),
            "ordering": "habitats numbered by increasing centre value of 'arterial'",
            "scaler_mean": self.mean.tolist(),
            "scaler_scale": self.scale.tolist(),
            "centres": self.centres.tolist(),
            "silhouette": {str(k): v for k, v in self.silhouette.items()},
            "n_train_patients": self.n_train_patients,
            "n_train_supervoxels": self.n_train_supervoxels,
        }

    @classmethod
    def from_dict(cls, data: Mapping) -> HabitatModel:
        model = cls(
            features=list(data["features"]),
            mean=np.asarray(data["scaler_mean"], dtype=np.float64),
            scale=np.asarray(data["scaler_scale"], dtype=np.float64),
            centres=np.asarray(data["centres"], dtype=np.float64).reshape(int(data["k"]), -1),
            k=int(data["k"]),
            silhouette={int(k): float(v) for k, v in data.get("silhouette", {}).items()},
            n_train_patients=int(data.get("n_train_patients", 0)),
            n_train_supervoxels=int(data.get("n_train_supervoxels", 0)),
        )
        if model.centres.shape[1] != len(model.features):
            raise ValueError("habitat model: centres and features disagree in length")
        return model

    def save(self, path: PathType) -> None:
        """Write the model as JSON (floats round-trip exactly)."""
        Path(path).write_text(json.dumps(self.to_dict(), indent=2) + "\n", encoding="utf-8")

    @classmethod
    def load(cls, path: PathType) -> HabitatModel:
        return cls.from_dict(json.loads(Path(path).read_text(encoding="utf-8")))


def fit_population(
    tables: Mapping[str, pd.DataFrame] | Sequence[pd.DataFrame],
    k: int | None = None,
    seed: int = 0,
    *,
    features: Sequence[str] = HABITAT_FEATURES,
    k_range: Sequence[int] = K_RANGE,
    max_silhouette_samples: int = 5000,
) -> HabitatModel:
    """Fit the population habitat model on the supervoxel tables of TRAINING patients only.

    The supervoxel vectors of all given patients are pooled, standardised (volume-weighted mean
    and SD) and clustered by k-means (``n_init=10``, ``random_state=seed``) with each supervoxel
    weighted by its voxel count, so that habitat centres describe tissue volume rather than
    supervoxel counts. With ``k=None`` the K of ``k_range`` with the highest silhouette (on at
    most ``max_silhouette_samples`` supervoxels, drawn with ``seed``) is used. Habitats are
    renumbered 1..K by increasing centre value of the first feature (``arterial``).

    Pass only training patients: the function uses every row it is given (DESIGN.md section 5).
    """
    frames = list(tables.values()) if isinstance(tables, Mapping) else list(tables)
    if not frames:
        raise ValueError("no supervoxel tables to fit the habitat model on")
    pooled = pd.concat(frames, ignore_index=True)
    features = list(features)
    x = pooled[features].to_numpy(dtype=np.float64)
    w = pooled["n_voxels"].to_numpy(dtype=np.float64) if "n_voxels" in pooled else np.ones(len(x))
    if not np.all(np.isfinite(x)):
        raise ValueError("supervoxel features contain NaN or infinite values")
    mean = np.average(x, axis=0, weights=w)
    scale = np.sqrt(np.average((x - mean) ** 2, axis=0, weights=w))
    scale[scale == 0] = 1.0
    z = (x - mean) / scale
    scores: dict[int, float] = {}
    if k is None:
        rng = np.random.default_rng(seed)
        sample = rng.choice(len(z), min(len(z), max_silhouette_samples), replace=False)
        for cand in k_range:
            if 2 <= cand < len(sample):
                labels = _kmeans(z, w, cand, seed).predict(z[sample])
                if len(np.unique(labels)) > 1:
                    scores[int(cand)] = float(silhouette_score(z[sample], labels))
        if not scores:
            raise ValueError("too few supervoxels to choose the number of habitats")
        k = max(scores, key=lambda c: (scores[c], -c))
    if k < 1 or k > len(z):
        raise ValueError(f"cannot fit {k} habitats on {len(z)} supervoxels")
    centres = _kmeans(z, w, int(k), seed).cluster_centers_
    order = np.argsort(centres[:, 0], kind="stable")
    return HabitatModel(
        features=features,
        mean=mean,
        scale=scale,
        centres=centres[order],
        k=int(k),
        silhouette=scores,
        n_train_patients=len(frames),
        n_train_supervoxels=len(z),
    )


def _kmeans(z: np.ndarray, w: np.ndarray, k: int, seed: int) -> KMeans:
    return KMeans(n_clusters=k, n_init=10, random_state=seed).fit(z, sample_weight=w)


# --------------------------------------------------------------------------------------------
# per patient: ITH metrics and per-habitat masks / radiomics
# --------------------------------------------------------------------------------------------
def ith_metrics(habitat_map: sitk.Image | np.ndarray, k: int) -> dict[str, float]:
    """Intratumour-heterogeneity metrics of one habitat map (habitats 1..k, 0 = background).

    Returns, for every habitat ``h``: ``habitat<h>_fraction`` (of the tumour volume),
    ``habitat<h>_volume_mm3`` and ``habitat<h>_n_subregions`` (26-connected components); and
    ``ith_entropy`` (Shannon entropy of the fractions, bits; 0 log 0 = 0),
    ``ith_entropy_norm`` (divided by log2 k), ``n_habitats_present``, ``n_subregions_total`` and
    ``ith_score``, ITHscore = 1 - sum_h (S_h,max / n_h) / S_total with S_h,max the volume of the
    largest sub-region of habitat h and n_h its number of sub-regions (Li et al., Eur Radiol 2023).
    A NumPy array is taken to have 1 mm voxels.
    """
    if isinstance(habitat_map, sitk.Image):
        arr = sitk.GetArrayFromImage(habitat_map)
        voxel = float(np.prod(habitat_map.GetSpacing()))
    else:
        arr = np.asarray(habitat_map)
        voxel = 1.0
    if arr.size and (arr.min() < 0 or arr.max() > k):
        raise ValueError(f"habitat map has labels outside 0..{k}")
    counts = np.bincount(arr.ravel().astype(np.int64), minlength=k + 1)[1:]
    total = int(counts.sum())
    if total == 0:
        raise ValueError("habitat map is empty")
    out: dict[str, float] = {}
    structure = np.ones((3, 3, 3) if arr.ndim == 3 else (3,) * arr.ndim, dtype=bool)
    entropy, n_total, score_sum = 0.0, 0, 0.0
    for h in range(1, k + 1):
        frac = counts[h - 1] / total
        comp, n_comp = ndi.label(arr == h, structure=structure)
        out[f"habitat{h}_fraction"] = float(frac)
        out[f"habitat{h}_volume_mm3"] = float(counts[h - 1] * voxel)
        out[f"habitat{h}_n_subregions"] = float(n_comp)
        if frac > 0:
            entropy -= frac * math.log2(frac)
            largest = np.bincount(comp.ravel())[1:].max()
            score_sum += largest / n_comp
        n_total += n_comp
    out["ith_entropy"] = float(entropy)
    out["ith_entropy_norm"] = float(entropy / math.log2(k)) if k > 1 else 0.0
    out["n_habitats_present"] = float(np.count_nonzero(counts))
    out["n_subregions_total"] = float(n_total)
    out["ith_score"] = float(1.0 - score_sum / total)
    return out


def habitat_masks(habitat_map: sitk.Image) -> dict[int, sitk.Image]:
    """One binary uint8 mask (same grid) per habitat present in the map, keyed by habitat."""
    arr = sitk.GetArrayViewFromImage(habitat_map)
    masks = {}
    for h in np.unique(arr):
        if h == 0:
            continue
        m = sitk.GetImageFromArray((arr == h).astype(np.uint8))
        m.CopyInformation(habitat_map)
        masks[int(h)] = m
    return masks


def habitat_radiomics(
    image: sitk.Image,
    habitat_map: sitk.Image,
    params_path: PathType,
    k: int,
    *,
    prefix: str = "",
    min_voxels: int = MIN_HABITAT_VOXELS,
    context_mm: float = 20.0,
) -> tuple[pd.Series, dict[int, str]]:
    """PyRadiomics features of every habitat (``<prefix>habitat<h>_<feature>``).

    The image is resampled (B-spline) onto the habitat map's 1 mm grid grown by ``context_mm``
    on every side, so filters (LoG, wavelet) see real tissue around the tumour, and each habitat
    mask is extracted with :func:`hccfusion.radiomics.extract`. Habitats absent from the map or
    with fewer than ``min_voxels`` voxels are skipped; their features are NaN and the reason is
    returned (``{habitat: reason}``), so every patient has the same columns.
    """
    sp = np.asarray(habitat_map.GetSpacing())
    pad = [int(math.ceil(context_mm / s)) for s in sp]
    padded = sitk.ConstantPad(habitat_map, pad, pad, 0)
    grid_image = sitk.Resample(image, padded, sitk.Transform(), sitk.sitkBSpline, _AIR_HU,
                               sitk.sitkFloat32)
    masks = habitat_masks(padded)
    parts: dict[int, pd.Series] = {}
    skipped: dict[int, str] = {}
    for h in range(1, k + 1):
        if h not in masks:
            skipped[h] = "habitat absent"
            continue
        n = int(sitk.GetArrayViewFromImage(masks[h]).sum())
        if n < min_voxels:
            skipped[h] = f"{n} voxels < {min_voxels}"
            continue
        parts[h] = extract(grid_image, masks[h], params_path, prefix=f"{prefix}habitat{h}_")
    if parts:
        template = next(iter(parts.values()))
        for h in skipped:
            names = [n.replace(f"{prefix}habitat{next(iter(parts))}_", f"{prefix}habitat{h}_", 1)
                     for n in template.index]
            parts[h] = pd.Series(np.nan, index=names)
    series = pd.concat([parts[h] for h in sorted(parts)]) if parts else pd.Series(dtype=float)
    for h, why in skipped.items():
        log.info("habitat %d skipped for radiomics: %s", h, why)
    return series, skipped
