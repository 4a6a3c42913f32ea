"""Cross-fitted ensembles of :class:`~hccfusion.deep.model.CropNet` (seed 000's Ensemble-DL).

:func:`fit_ensemble` learns only from the training patients (DESIGN.md section 5):

* **Cross-fitting.** The training patients are split into ``folds`` folds (stratified by the
  event indicator of the first endpoint, seeded). For each fold an ensemble of ``n_models``
  networks is trained on the other folds and scores the fold's patients, so every training
  patient gets an *out-of-fold* risk, probability and embedding (``fold`` = ``"1"`` ..
  ``"K"``) from networks that never saw it: these are what late fusion may learn from.
* **Full ensemble.** Another ``n_models`` networks are trained on all training patients; they score
  every other patient in ``crops`` (internal, external, new; ``fold`` = ``"full"``) and are the
  frozen model that :func:`predict_ensemble` applies later. Training patients are not scored by
  the full ensemble (their in-sample scores would be optimistic).
* **Ensemble.** Members differ by seed (initialisation, early-stopping split, batch order,
  augmentation, dropout). Risks (log relative hazards, each network's centred on its own training
  patients: :mod:`hccfusion.deep.model`), probabilities (``sigmoid`` of the logits) and embeddings
  are averaged over the members. Caveat on embeddings: independently trained networks do not share
  a coordinate system, so ``emb_j`` means the same thing only among patients scored by the same
  networks (one fold's patients, or the ``full`` rows); prefer the risks and probabilities as
  features of a downstream model.
* **Early stopping** uses an inner split of each network's own training patients
  (``val_fraction``, default 20 %, stratified, different per member); the weights of the epoch
  with the lowest inner-validation loss from epoch ``min_epochs`` on are kept (earlier epochs,
  before the network has learned anything, can win on a dozen validation patients by chance), and
  training stops after ``patience`` epochs without improvement. The held-out fold is never looked
  at during training.
* **Augmentation** (``augment=True``, training batches only): a random flip of each axis (p = 1/2)
  and a random integer shift of up to ``max_shift`` voxels per axis, padded with 0 (the window
  minimum). Scoring uses the crops as they are.
* **Determinism.** Each network has its own seed derived from ``seed``, the fold and the member
  (``numpy.random.SeedSequence``); weights are initialised after ``torch.manual_seed`` of that
  seed, and batch order and augmentation draw from a ``torch.Generator`` with the same seed.
  ``torch.use_deterministic_algorithms(True)`` is on while fitting (the caller's setting, thread
  count and global RNG state are restored afterwards). Two runs with the same inputs, settings and
  ``threads`` on the same torch build give identical numbers. Outcomes of patients outside
  ``train_ids`` are never read.

Outcomes come as a table with one row per patient (a ``patient_id`` column, or the index) and
``endpoints`` in the config's form (``{"os": {"type": "survival", "time": "os_days", "event":
"os_event"}, "response": {"type": "binary", "event": "response_3m"}}``); a missing value means the
patient does not have that endpoint and is masked out of its loss.
"""

from __future__ import annotations

import copy
import logging
import time as _time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from sklearn.model_selection import KFold, StratifiedKFold, train_test_split

from hccfusion.deep.loss import multitask_loss
from hccfusion.deep.model import Architecture, CropNet
from hccfusion.errors import name_list

__all__ = [
    "DEFAULTS",
    "DEFAULT_ENDPOINTS",
    "EnsembleResult",
    "augment_batch",
    "fit_ensemble",
    "predict_ensemble",
]

log = logging.getLogger(__name__)

#: The endpoints of the default config (``config/config.yaml``).
DEFAULT_ENDPOINTS: dict[str, dict[str, str]] = {
    "os": {"type": "survival", "time": "os_days", "event": "os_event"},
    "pfs": {"type": "survival", "time": "pfs_days", "event": "pfs_event"},
    "response": {"type": "binary", "event": "response_3m"},
}

#: Default training settings: the whole branch (5 folds + full, 3 members each = 18 networks)
#: trained in 3.5 minutes on 2 CPU cores on crops of the default demo's size and training set
#: (70 patients, 2 x 48^3; benchmarks/deep.md), against a budget of 15 minutes.
DEFAULTS: dict = {
    "n_models": 3,
    "folds": 5,
    "epochs": 40,
    "lr": 2e-3,
    "weight_decay": 1e-4,
    "batch_size": 16,
    "seed": 0,
    "augment": True,
    "max_shift": 4,
    "val_fraction": 0.2,
    "patience": 10,
    "min_epochs": 5,
}

FULL = "full"
_SCORE_BATCH = 32


@dataclass
class EnsembleResult:
    """What :func:`fit_ensemble` returns.

    Attributes:
        predictions: one row per scored patient: ``patient_id``, ``fold`` (``"1"`` .. ``"K"``
            for the out-of-fold scores of training patients, ``"full"`` for the others),
            ``risk_<endpoint>`` per survival endpoint, ``prob_<endpoint>`` per binary endpoint,
            ``emb_0`` .. ``emb_<k-1>``.
        state_dicts: the trained networks, ``{"fold1": [member state dicts], ..., "full": [...]}``.
        architecture: the :class:`~hccfusion.deep.model.Architecture` of every network.
        meta: settings, endpoints, fold of each training patient, per-network seeds and best
            epochs, torch version and thread count (JSON-serialisable).
        history: per network and epoch, the training and inner-validation loss.
    """

    predictions: pd.DataFrame
    state_dicts: dict[str, list[dict[str, torch.Tensor]]]
    architecture: Architecture
    meta: dict = field(default_factory=dict)
    history: pd.DataFrame = field(default_factory=pd.DataFrame)

    def models(self, group: str = FULL) -> list[CropNet]:
        """The networks of one group (``"full"`` or ``"fold<k>"``), in evaluation mode."""
        return _load_models(self.architecture, self.state_dicts[group])


# --- inputs -----------------------------------------------------------------------------------


def _crop_tensor(crops: Mapping[str, np.ndarray], ids: Sequence[str]) -> torch.Tensor:
    arrays = []
    shape = None
    for pid in ids:
        a = np.asarray(crops[pid], dtype=np.float32)
        if a.ndim == 3:
            a = a[None]
        if a.ndim != 4:
            raise ValueError(f"crop of patient {pid} must be (phases, D, H, W), got {a.shape}")
        if shape is None:
            shape = a.shape
        elif a.shape != shape:
            raise ValueError(f"crop of patient {pid} has shape {a.shape}, others {shape}")
        if not np.all(np.isfinite(a)):
            raise ValueError(f"crop of patient {pid} has non-finite values")
        arrays.append(a)
    if not arrays:
        return torch.zeros((0, 1, 1, 1, 1))
    return torch.from_numpy(np.stack(arrays))


def _outcome_frame(outcomes: pd.DataFrame) -> pd.DataFrame:
    if "patient_id" in outcomes.columns:
        frame = outcomes.set_index(outcomes["patient_id"].astype(str))
    else:
        frame = outcomes.copy()
        frame.index = frame.index.astype(str)
    dup = frame.index[frame.index.duplicated()].unique()
    if len(dup):
        raise ValueError(f"duplicated patient_id in outcomes: {name_list(dup)}")
    return frame


def _split_endpoints(endpoints: Mapping[str, Mapping]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    survival, binary = [], []
    for name, spec in endpoints.items():
        kind = spec.get("type")
        if kind == "survival":
            if not spec.get("time") or not spec.get("event"):
                raise ValueError(f"survival endpoint {name!r} needs 'time' and 'event' columns")
            survival.append(str(name))
        elif kind == "binary":
            if not spec.get("event"):
                raise ValueError(f"binary endpoint {name!r} needs an 'event' column")
            binary.append(str(name))
        else:
            raise ValueError(f"endpoint {name!r} has type {kind!r}; expected survival or binary")
    if not survival and not binary:
        raise ValueError("no endpoints to train on")
    return tuple(survival), tuple(binary)


def _targets(frame: pd.DataFrame, endpoints: Mapping[str, Mapping], survival, binary
             ) -> dict[str, np.ndarray]:
    """Training targets as float arrays, NaN where a patient lacks the endpoint."""
    out: dict[str, np.ndarray] = {}

    def column(name: str, col: str) -> np.ndarray:
        if col not in frame.columns:
            raise ValueError(f"endpoint {name!r}: outcomes have no column {col!r}")
        return pd.to_numeric(frame[col], errors="coerce").to_numpy(dtype=float)

    for name in survival:
        t = column(name, endpoints[name]["time"])
        e = column(name, endpoints[name]["event"])
        ok = np.isfinite(t) & np.isfinite(e)
        if np.any(t[ok] < 0):
            raise ValueError(f"endpoint {name!r}: negative survival times")
        if np.any(~np.isin(e[ok], (0.0, 1.0))):
            raise ValueError(f"endpoint {name!r}: event indicator must be 0 or 1")
        if np.sum(e[ok]) < 2:
            raise ValueError(f"endpoint {name!r}: fewer than 2 events among the training patients")
        t[~ok] = np.nan
        e[~ok] = np.nan
        out[f"time_{name}"], out[f"event_{name}"] = t, e
    for name in binary:
        y = column(name, endpoints[name]["event"])
        ok = np.isfinite(y)
        if np.any(~np.isin(y[ok], (0.0, 1.0))):
            raise ValueError(f"endpoint {name!r}: binary outcome must be 0 or 1")
        if len(np.unique(y[ok])) < 2:
            raise ValueError(f"endpoint {name!r}: the training patients have only one class")
        out[f"y_{name}"] = y
    return out


def _strata(targets: Mapping[str, np.ndarray], survival, binary) -> np.ndarray:
    """Stratification labels: the first endpoint's event (missing = its own stratum)."""
    key = f"event_{survival[0]}" if survival else f"y_{binary[0]}"
    v = targets[key]
    return np.where(np.isfinite(v), v, -1.0).astype(int)


def _kfold(strata: np.ndarray, k: int, seed: int):
    counts = np.bincount(strata - strata.min())
    if counts[counts > 0].min() >= k:
        return StratifiedKFold(k, shuffle=True, random_state=seed).split(strata, strata)
    return KFold(k, shuffle=True, random_state=seed).split(strata)


def _inner_split(idx: np.ndarray, strata: np.ndarray, fraction: float, seed: int):
    if fraction <= 0:
        return idx, idx[:0]
    s = strata[idx]
    n_val = max(2, int(round(fraction * idx.size)))
    if idx.size - n_val < 2:
        raise ValueError(f"too few training patients ({idx.size}) for an early-stopping split")
    counts = np.bincount(s - s.min())
    try:
        if counts[counts > 0].min() < 2:
            raise ValueError("a stratum has fewer than two patients")
        fit, val = train_test_split(idx, test_size=n_val, random_state=seed, stratify=s)
    except ValueError:  # strata too small for a stratified split of this size
        fit, val = train_test_split(idx, test_size=n_val, random_state=seed)
    return np.sort(fit), np.sort(val)


def _seed(*parts: int) -> int:
    return int(np.random.SeedSequence([int(p) for p in parts]).generate_state(1)[0])


# --- training ---------------------------------------------------------------------------------


@contextmanager
def _deterministic(threads: int | None) -> Iterator[None]:
    prev_det = torch.are_deterministic_algorithms_enabled()
    prev_warn = torch.is_deterministic_algorithms_warn_only_enabled()
    prev_threads = torch.get_num_threads()
    torch.use_deterministic_algorithms(True)
    if threads:
        torch.set_num_threads(int(threads))
    try:
        with torch.random.fork_rng(devices=[]):
            yield
    finally:
        torch.use_deterministic_algorithms(prev_det, warn_only=prev_warn)
        torch.set_num_threads(prev_threads)


def augment_batch(x: torch.Tensor, generator: torch.Generator, max_shift: int = 4) -> torch.Tensor:
    """Random flips of each spatial axis (p = 1/2) and integer shifts of up to ``max_shift``
    voxels per axis (padded with 0), drawn per crop from ``generator``. ``x``: ``(n, C, D, H, W)``.
    """
    n = x.shape[0]
    flips = torch.rand((n, 3), generator=generator) < 0.5
    s = int(max_shift)
    shifts = torch.randint(-s, s + 1, (n, 3), generator=generator) if s > 0 else None
    out = []
    for b in range(n):
        xb = x[b]
        dims = [d + 1 for d in range(3) if bool(flips[b, d])]
        if dims:
            xb = torch.flip(xb, dims)
        if shifts is not None:
            dz, dy, dx = (int(v) for v in shifts[b])
            if dz or dy or dx:
                D, H, W = xb.shape[1:]
                padded = F.pad(xb, (s, s, s, s, s, s))
                xb = padded[:, s - dz:s - dz + D, s - dy:s - dy + H, s - dx:s - dx + W]
        out.append(xb)
    return torch.stack(out)


def _batch_targets(targets: Mapping[str, torch.Tensor], idx: torch.Tensor) -> dict:
    return {k: v[idx] for k, v in targets.items()}


def _batches(n: int, batch_size: int, generator: torch.Generator) -> list[torch.Tensor]:
    perm = torch.randperm(n, generator=generator)
    chunks = list(torch.split(perm, batch_size))
    if len(chunks) > 1 and chunks[-1].numel() < 2:  # a lone patient has no partial likelihood
        chunks[-2] = torch.cat([chunks[-2], chunks[-1]])
        chunks.pop()
    return chunks


@torch.no_grad()
def _outputs(model: CropNet, x: torch.Tensor) -> dict[str, torch.Tensor]:
    model.eval()
    parts = [model(x[i:i + _SCORE_BATCH]) for i in range(0, x.shape[0], _SCORE_BATCH)]
    return {k: torch.cat([p[k] for p in parts]) for k in parts[0]}


def _train_one(
    arch: Architecture, x: torch.Tensor, targets: Mapping[str, torch.Tensor],
    fit_idx: np.ndarray, val_idx: np.ndarray, *, seed: int, epochs: int, lr: float,
    weight_decay: float, batch_size: int, augment: bool, max_shift: int, patience: int | None,
    min_epochs: int, loss_weights: Mapping[str, float] | None, name: str,
) -> tuple[CropNet, list[dict], int]:
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    model = CropNet(arch)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
    fit_t = torch.as_tensor(fit_idx, dtype=torch.long)
    val_t = torch.as_tensor(val_idx, dtype=torch.long)
    best_loss, best_state, best_epoch, wait = np.inf, None, -1, 0
    history = []
    for epoch in range(int(epochs)):
        model.train()
        total, count = 0.0, 0
        for b in _batches(fit_t.numel(), batch_size, gen):
            idx = fit_t[b]
            xb = x[idx]
            if augment:
                xb = augment_batch(xb, gen, max_shift)
            loss, _ = multitask_loss(model(xb), _batch_targets(targets, idx), arch.survival,
                                     arch.binary, loss_weights)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total += float(loss.detach()) * idx.numel()
            count += idx.numel()
        row = {"network": name, "epoch": epoch + 1, "train_loss": total / max(count, 1)}
        if val_t.numel():
            val_loss, _ = multitask_loss(_outputs(model, x[val_t]), _batch_targets(targets, val_t),
                                         arch.survival, arch.binary, loss_weights)
            row["val_loss"] = float(val_loss)
            if epoch + 1 < min(int(min_epochs), int(epochs)):
                pass  # warm-up: not a candidate, patience not counted
            elif row["val_loss"] < best_loss - 1e-6:
                best_loss, best_epoch, wait = row["val_loss"], epoch + 1, 0
                best_state = copy.deepcopy(model.state_dict())
            else:
                wait += 1
        history.append(row)
        if val_t.numel() and patience and wait >= patience:
            break
    if best_state is not None:
        model.load_state_dict(best_state)
    else:
        best_epoch = len(history)
    if arch.survival:  # centre each risk on the network's own training patients
        raw = _outputs(model, x[fit_t])["risk"]
        model.risk_offset.copy_(raw.mean(dim=0))
    model.eval()
    return model, history, best_epoch


def _load_models(arch: Architecture, state_dicts: Sequence[Mapping]) -> list[CropNet]:
    models = []
    for state in state_dicts:
        model = CropNet(arch)
        model.load_state_dict(state)
        model.eval()
        models.append(model)
    return models


def _score(models: Sequence[CropNet], x: torch.Tensor, ids: Sequence[str], fold: str
           ) -> pd.DataFrame:
    arch = models[0].arch
    risk = torch.zeros((x.shape[0], len(arch.survival)))
    prob = torch.zeros((x.shape[0], len(arch.binary)))
    emb = torch.zeros((x.shape[0], arch.embedding_dim))
    for model in models:
        out = _outputs(model, x)
        risk += out["risk"]
        prob += torch.sigmoid(out["logit"])
        emb += out["embedding"]
    m = float(len(models))
    frame = pd.DataFrame({"patient_id": list(ids), "fold": fold})
    for k, name in enumerate(arch.survival):
        frame[f"risk_{name}"] = (risk[:, k] / m).double().numpy()
    for k, name in enumerate(arch.binary):
        frame[f"prob_{name}"] = (prob[:, k] / m).double().numpy()
    embv = (emb / m).double().numpy()
    for j in range(arch.embedding_dim):
        frame[f"emb_{j}"] = embv[:, j]
    return frame


def predict_ensemble(
    models: Sequence[CropNet] | tuple[Architecture | Mapping, Sequence[Mapping]],
    crops: Mapping[str, np.ndarray],
    ids: Sequence[str] | None = None,
    *,
    fold: str = FULL,
    threads: int | None = None,
) -> pd.DataFrame:
    """Score patients with a frozen ensemble: rows as :attr:`EnsembleResult.predictions`.

    ``models`` is a list of networks or ``(architecture, state_dicts)`` (e.g. from
    :func:`hccfusion.deep.weights.load_weights`); ``ids`` default to all of ``crops``.
    """
    if isinstance(models, tuple) and len(models) == 2 and not isinstance(models[0], CropNet):
        arch, states = models
        arch = arch if isinstance(arch, Architecture) else Architecture.from_dict(arch)
        models = _load_models(arch, states)
    if not models:
        raise ValueError("no networks to score with")
    ids = [str(i) for i in (crops if ids is None else ids)]
    missing = [i for i in ids if i not in crops]
    if missing:
        raise ValueError(f"no crop for patients {name_list(missing)}")
    with _deterministic(threads):
        x = _crop_tensor(crops, ids)
        if x.shape[1] != models[0].arch.in_channels:
            raise ValueError(f"crops have {x.shape[1]} phases, the networks expect "
                             f"{models[0].arch.in_channels}")
        return _score(models, x, ids, fold)


def fit_ensemble(
    crops: Mapping[str, np.ndarray],
    outcomes: pd.DataFrame,
    train_ids: Sequence[str],
    *,
    endpoints: Mapping[str, Mapping] | None = None,
    n_models: int = DEFAULTS["n_models"],
    folds: int = DEFAULTS["folds"],
    epochs: int = DEFAULTS["epochs"],
    lr: float = DEFAULTS["lr"],
    weight_decay: float = DEFAULTS["weight_decay"],
    batch_size: int = DEFAULTS["batch_size"],
    seed: int = DEFAULTS["seed"],
    augment: bool = DEFAULTS["augment"],
    max_shift: int = DEFAULTS["max_shift"],
    val_fraction: float = DEFAULTS["val_fraction"],
    patience: int | None = DEFAULTS["patience"],
    min_epochs: int = DEFAULTS["min_epochs"],
    architecture: Architecture | Mapping | None = None,
    loss_weights: Mapping[str, float] | None = None,
    threads: int | None = None,
) -> EnsembleResult:
    """Cross-fitted deep ensemble on the training patients; see the module docstring.

    Parameters
    ----------
    crops
        ``patient_id -> (phases, D, H, W)`` crops (:func:`hccfusion.deep.crops.patient_crops`)
        of every patient to score: the training patients and any others.
    outcomes
        Per-patient outcomes (``patient_id`` column or index); only the rows of ``train_ids`` are
        read.
    train_ids
        The training patients (DESIGN.md: the training part of the development centre).
    endpoints
        Endpoint definitions as in the config (default :data:`DEFAULT_ENDPOINTS`).
    n_models, folds
        Ensemble members per fit and cross-fitting folds (``folds >= 2``).
    epochs, lr, weight_decay, batch_size
        AdamW training of each network (at most ``epochs``; see early stopping).
    seed
        Seed of everything random (folds, splits, initialisation, batches, augmentation).
    augment, max_shift
        Flips and shifts of training batches.
    val_fraction, patience, min_epochs
        Early-stopping split of each network's training patients, patience in epochs, and the
        first epoch that may be kept (``val_fraction=0``: no early stopping, the last epoch is
        kept).
    architecture
        :class:`~hccfusion.deep.model.Architecture` fields (``in_channels`` and the heads are
        set from the crops and endpoints).
    loss_weights
        Weight per endpoint in the summed loss (default 1).
    threads
        ``torch.set_num_threads`` while fitting (default: leave as is).
    """
    started = _time.perf_counter()
    endpoints = dict(DEFAULT_ENDPOINTS if endpoints is None else endpoints)
    survival, binary = _split_endpoints(endpoints)
    train_ids = [str(i) for i in train_ids]
    if len(set(train_ids)) != len(train_ids):
        raise ValueError("train_ids has duplicates")
    if int(folds) < 2:
        raise ValueError(f"folds must be at least 2, got {folds}")
    if int(n_models) < 1:
        raise ValueError(f"n_models must be at least 1, got {n_models}")
    crops = {str(k): v for k, v in crops.items()}
    missing = [i for i in train_ids if i not in crops]
    if missing:
        raise ValueError(f"no crop for training patients {name_list(missing)}")
    frame = _outcome_frame(outcomes)
    absent = [i for i in train_ids if i not in frame.index]
    if absent:
        raise ValueError(f"no outcomes for training patients {name_list(absent)}")
    frame = frame.loc[train_ids]  # outcomes of other patients are never read
    if len(train_ids) < 2 * int(folds):
        raise ValueError(f"{len(train_ids)} training patients are too few for {folds} folds")
    other_ids = [i for i in crops if i not in set(train_ids)]

    targets_np = _targets(frame, endpoints, survival, binary)
    strata = _strata(targets_np, survival, binary)

    with _deterministic(threads):
        x_train = _crop_tensor(crops, train_ids)
        x_other = _crop_tensor(crops, other_ids)
        if other_ids and x_other.shape[1:] != x_train.shape[1:]:
            raise ValueError(f"crops of non-training patients have shape {tuple(x_other.shape[1:])}"
                             f", training crops {tuple(x_train.shape[1:])}")
        base = Architecture() if architecture is None else (
            architecture if isinstance(architecture, Architecture)
            else Architecture.from_dict(architecture))
        arch = Architecture.from_dict({**base.to_dict(), "in_channels": int(x_train.shape[1]),
                                       "survival": list(survival), "binary": list(binary)})
        targets = {k: torch.as_tensor(v, dtype=torch.float32) for k, v in targets_np.items()}
        settings = {"n_models": int(n_models), "folds": int(folds), "epochs": int(epochs),
                    "lr": float(lr), "weight_decay": float(weight_decay),
                    "batch_size": int(batch_size), "seed": int(seed), "augment": bool(augment),
                    "max_shift": int(max_shift), "val_fraction": float(val_fraction),
                    "patience": None if patience is None else int(patience),
                    "min_epochs": int(min_epochs),
                    "loss_weights": dict(loss_weights or {})}
        train_kw = {k: settings[k] for k in ("epochs", "lr", "weight_decay", "batch_size",
                                             "augment", "max_shift", "patience",
                                             "min_epochs")}

        fold_of = np.zeros(len(train_ids), dtype=int)
        groups: list[tuple[str, np.ndarray, np.ndarray | None]] = []
        for k, (fit_idx, test_idx) in enumerate(_kfold(strata, int(folds), int(seed)), start=1):
            fold_of[test_idx] = k
            groups.append((f"fold{k}", np.sort(fit_idx), np.sort(test_idx)))
        groups.append((FULL, np.arange(len(train_ids)), None))

        state_dicts: dict[str, list[dict]] = {}
        networks: list[dict] = []
        histories: list[dict] = []
        frames: list[pd.DataFrame] = []
        for g, (group, fit_all, test_idx) in enumerate(groups):
            members = []
            for m in range(int(n_models)):
                net_seed = _seed(seed, g, m)
                fit_idx, val_idx = _inner_split(fit_all, strata, float(val_fraction), net_seed)
                name = f"{group}/m{m}"
                t0 = _time.perf_counter()
                model, hist, best = _train_one(arch, x_train, targets, fit_idx, val_idx,
                                               seed=net_seed, loss_weights=loss_weights,
                                               name=name, **train_kw)
                log.info("trained %s: %d epochs, best %d, %.1f s", name, len(hist), best,
                         _time.perf_counter() - t0)
                members.append(model)
                histories.extend(hist)
                networks.append({"network": name, "seed": net_seed, "epochs_run": len(hist),
                                 "best_epoch": best, "n_fit": int(fit_idx.size),
                                 "n_val": int(val_idx.size)})
            state_dicts[group] = [{k: v.detach().clone() for k, v in mdl.state_dict().items()}
                                  for mdl in members]
            if test_idx is not None:
                frames.append(_score(members, x_train[torch.as_tensor(test_idx)],
                                     [train_ids[i] for i in test_idx], group.removeprefix("fold")))
            elif other_ids:
                frames.append(_score(members, x_other, other_ids, FULL))

    order = {pid: i for i, pid in enumerate(train_ids + other_ids)}
    predictions = pd.concat(frames, ignore_index=True)
    predictions = predictions.sort_values("patient_id", key=lambda s: s.map(order),
                                          kind="mergesort").reset_index(drop=True)
    meta = {
        "settings": settings,
        "endpoints": {k: dict(v) for k, v in endpoints.items()},
        "architecture": arch.to_dict(),
        "train_ids": train_ids,
        "fold_of": {pid: int(f) for pid, f in zip(train_ids, fold_of, strict=True)},
        "scored_by_full": other_ids,
        "networks": networks,
        "torch": torch.__version__,
        "threads": int(threads) if threads else torch.get_num_threads(),
        "seconds": round(_time.perf_counter() - started, 1),
    }
    return EnsembleResult(predictions=predictions, state_dicts=state_dicts, architecture=arch,
                          meta=meta, history=pd.DataFrame(histories))
