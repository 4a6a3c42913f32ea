"""Trained models on disk, and their application to new patients (``hccfusion predict``).

A model directory holds one `skops <https://skops.readthedocs.io>`_ file per (recipe, endpoint,
component) and a ``manifest.json`` that describes them. skops stores an estimator as a JSON tree of
types plus numpy arrays; loading it re-creates only the types it is allowed to, without unpickling,
so a model file cannot run code when it is opened (unlike pickle/joblib).

Loading is defended in three layers (:func:`load_models`):

1. the manifest's library versions must match the running ones in major.minor for scikit-learn
   and scikit-survival (fitted estimators are only guaranteed to behave the same on the version
   that fitted them); a mismatch is refused unless ``allow_version_mismatch=True``, which warns;
2. every model file's SHA-256 must equal the manifest's, checked on the bytes that are then read
   (a flipped byte or a swapped file is refused, naming the file);
3. every type in the file that skops does not trust by default must come from an allowlisted
   module (:data:`TRUSTED_MODULES`, minus :data:`REFUSED_MODULES`, plus
   :data:`TRUSTED_TYPES`); the list is computed from the file's content by
   ``skops.io.get_untrusted_types`` and checked here, so nothing the file declares is trusted
   because it declares it. A type outside the allowlist is refused, naming type and file.
   scikit-learn decision trees (trusted for the tree ensembles) are then checked for node indices
   that point outside the tree, which scikit-learn would follow without bounds checks.

The manifest is not signed: whoever can rewrite it can also update the hashes, which is why the
type allowlist (layer 3), not the hash, is what keeps foreign code out.

Files are written deterministically: the same fitted models give byte-identical files and
manifest (skops names arrays by memory address and zip entries carry the time of writing; both
are normalised here).
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import platform
import re
import warnings
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from hccfusion import __version__
from hccfusion.errors import HccfusionError, TableError, id_mismatch, name_list
from hccfusion.timeunits import from_months

__all__ = [
    "HORIZONS_MONTHS",
    "MANIFEST",
    "REFUSED_MODULES",
    "TRUSTED_TYPES",
    "TRUSTED_MODULES",
    "LoadedModels",
    "ModelFileError",
    "load_models",
    "median_cutoffs",
    "predict",
    "read_table",
    "save_models",
    "table_sha256",
]

log = logging.getLogger(__name__)

MANIFEST = "manifest.json"
FORMAT = "hccfusion-models"
FORMAT_VERSION = 1
HORIZONS_MONTHS = (6, 12, 24, 36)
#: Modules (and their submodules) whose types a model file may contain.
TRUSTED_MODULES = (
    "numpy",
    "scipy.sparse",
    "scipy.special",
    "sklearn",
    "sksurv",
    "hccfusion.models",
    "hccfusion.preprocess",
    "hccfusion.selection",
)
#: Submodules of trusted modules that are refused all the same: they read, write or download
#: files, or build and run code, if an estimator were made to call one of their functions.
REFUSED_MODULES = (
    "numpy.f2py",
    "numpy.distutils",
    "numpy.testing",
    "numpy.ctypeslib",
    "numpy.lib.npyio",
    "numpy.lib.format",
    "sklearn.datasets",
    "sklearn.utils._testing",
    "sklearn.externals",
    "sksurv.datasets",
    "sksurv.io",
    # skops' own note: its nodes array is indexed without bounds checks (and, unlike
    # sklearn.tree._tree.Tree, it is not checked here).
    "sklearn.ensemble._hist_gradient_boosting.predictor",
)
#: Single types trusted outside those modules: builtins skops may need beyond the ones it trusts
#: by default, and scipy's optimiser result (a dict subclass; FastSurvivalSVM keeps one). None
#: of them runs code when built.
TRUSTED_TYPES = frozenset({"builtins.frozenset", "builtins.slice", "builtins.bytes",
                           "builtins.bytearray", "builtins.set",
                           "scipy.optimize._optimize.OptimizeResult"})
_VERSION_CHECKED = ("scikit-learn", "scikit-survival")
_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
_ZIP_TIME = (1980, 1, 1, 0, 0, 0)
_ENTRY_KEYS = ("file", "sha256", "recipe", "endpoint", "kind", "definition", "component",
               "blocks", "features", "cutoff")


class ModelFileError(HccfusionError):
    """A model directory, manifest or model file that is missing, altered or not trusted."""


# --------------------------------------------------------------------------------------------
# helpers


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def table_sha256(*frames: pd.DataFrame) -> str:
    """SHA-256 of tables, independent of row and column order (the training-data hash).

    Each frame is sorted by index and by column name and written as TSV; the digests of the
    frames are combined in the order given.
    """
    digest = hashlib.sha256()
    for frame in frames:
        canon = frame.sort_index(axis=1).sort_index(axis=0, kind="mergesort")
        digest.update(canon.to_csv(sep="\t", float_format="%.17g").encode())
    return digest.hexdigest()


def median_cutoffs(fitted, train_frame: pd.DataFrame) -> dict[str, float]:
    """Risk cut-off of each component: the median score of the training patients.

    ``train_frame`` holds the training patients (e.g. ``cohort.data.loc[fitted.train_index]``);
    scores are the frozen models' in-sample scores, as the seed papers' median split uses
    (:func:`hccfusion.stratify.risk_cutoff`).
    """
    from hccfusion.stratify import risk_cutoff

    return {name: risk_cutoff(s) for name, s in fitted.predict(train_frame).items()}


def _versions() -> dict[str, str]:
    import sklearn
    import skops
    import sksurv

    return {
        "hccfusion": __version__,
        "python": platform.python_version(),
        "numpy": np.__version__,
        "pandas": pd.__version__,
        "scikit-learn": sklearn.__version__,
        "scikit-survival": sksurv.__version__,
        "skops": skops.__version__,
    }


def _major_minor(version: str) -> tuple[str, ...]:
    return tuple(version.split(".")[:2])


def _jsonable(value):
    """Config values as JSON (numpy scalars, tuples and paths included), for hashing."""
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    return str(value)


def _check_name(value: str, what: str) -> str:
    if not isinstance(value, str) or not _SAFE_NAME.match(value):
        raise ModelFileError(f"{what} {value!r} is not a plain name (letters, digits, . _ -)")
    return value


# --------------------------------------------------------------------------------------------
# what a model file may contain


def _type_allowed(name: str) -> bool:
    if name in TRUSTED_TYPES:
        return True
    inside = any(name == m or name.startswith(m + ".") for m in TRUSTED_MODULES)
    refused = any(name == m or name.startswith(m + ".") for m in REFUSED_MODULES)
    return inside and not refused


def _load_bytes(data: bytes, source: str):
    """Load a skops file's bytes after checking every untrusted type against the allowlist."""
    import skops.io as sio

    try:
        untrusted = sio.get_untrusted_types(data=data)
    except Exception as exc:  # a damaged zip or schema
        raise ModelFileError(f"model file {source} is not a readable skops file: {exc}") from exc
    refused = sorted(t for t in untrusted if not _type_allowed(t))
    if refused:
        raise ModelFileError(
            f"model file {source} contains type(s) outside the trusted allowlist, refused: "
            f"{', '.join(refused)}"
        )
    try:
        model = sio.loads(data, trusted=untrusted)
    except Exception as exc:
        raise ModelFileError(f"model file {source} could not be loaded: {exc}") from exc
    _check_trees(model, source)
    return model


def _without_pandas(component):
    """A copy of ``component`` in which fitted pandas attributes are numpy arrays.

    skops cannot store pandas objects. Fitted attributes (names ending in ``_``) that hold a
    Series or Index (e.g. a filter's per-column diagnostics) are stored as their values.
    """
    import copy

    component = copy.deepcopy(component)
    for obj in list(_reachable(component)):
        if isinstance(obj, np.ndarray) or not hasattr(obj, "__dict__"):
            continue
        for key, value in list(vars(obj).items()):
            if key.endswith("_") and isinstance(value, pd.Series | pd.Index):
                setattr(obj, key, value.to_numpy())
    return component


def _canonical_skops(obj) -> bytes:
    """``skops.io.dumps(obj)`` with deterministic object ids, file names and zip metadata."""
    import skops.io as sio

    with zipfile.ZipFile(io.BytesIO(sio.dumps(obj))) as zin:
        schema = json.loads(zin.read("schema.json"))
        entries = {n: zin.read(n) for n in zin.namelist() if n != "schema.json"}
    ids: dict[int, int] = {}
    names: dict[str, str] = {}

    def new_id(old: int) -> int:
        return ids.setdefault(old, len(ids) + 1)

    def visit(node):
        if isinstance(node, list):
            for v in node:
                visit(v)
            return
        if not isinstance(node, dict):
            return
        if isinstance(node.get("__id__"), int):
            node["__id__"] = new_id(node["__id__"])
        fname = node.get("file")
        if isinstance(fname, str) and fname in entries:
            if fname not in names:
                stem, dot, ext = fname.partition(".")
                base = str(new_id(int(stem))) if stem.isdigit() else f"b{len(names) + 1}"
                names[fname] = base + dot + ext
            node["file"] = names[fname]
        for v in node.values():
            visit(v)

    visit(schema)
    if set(names) != set(entries):
        raise RuntimeError("unexpected skops file layout: arrays not referenced by the schema")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zout:
        items = [("schema.json", json.dumps(schema, separators=(",", ":")).encode())]
        items += sorted(((names[n], data) for n, data in entries.items()),
                        key=lambda item: item[0])
        for name, data in items:
            info = zipfile.ZipInfo(name, date_time=_ZIP_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            zout.writestr(info, data, compresslevel=6)
    return buffer.getvalue()


def _reachable(root):
    """Every object reachable from ``root`` through attributes, containers and object arrays."""
    seen: set[int] = set()
    stack = [root]
    while stack:
        obj = stack.pop()
        if id(obj) in seen or isinstance(obj, str | bytes | type | pd.Series | pd.Index
                                          | pd.DataFrame):
            continue
        seen.add(id(obj))
        yield obj
        if isinstance(obj, np.ndarray):
            if obj.dtype == object:
                stack.extend(reversed(obj.ravel().tolist()))
        elif isinstance(obj, Mapping):
            stack.extend(reversed(list(obj.values())))
        elif isinstance(obj, list | tuple | set | frozenset):
            stack.extend(reversed(list(obj)))
        elif hasattr(obj, "__dict__"):
            stack.extend(reversed(list(vars(obj).values())))


def _categorical_inputs(component) -> list[str]:
    """Input columns that the component one-hot (or ordinal/target) encodes."""
    from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder, TargetEncoder

    from hccfusion.models.comparators import ScoreModel

    found = {str(c) for obj in _reachable(component)
             if isinstance(obj, OneHotEncoder | OrdinalEncoder | TargetEncoder)
             for c in getattr(obj, "feature_names_in_", [])}
    if isinstance(component, ScoreModel) and component.order is not None:
        found.add(component.column)  # an ordinal text score such as mRECIST
    return sorted(found)


def _check_trees(model, source: str) -> None:
    """Refuse decision trees whose node arrays point outside themselves.

    scikit-learn walks ``Tree`` nodes by raw indices without bounds checks, so a crafted tree
    could read out-of-bounds memory or loop forever at ``predict``. A valid tree's internal nodes
    point to later nodes (children are built after their parent) and to existing features.
    """
    from sklearn.tree._tree import Tree

    for obj in _reachable(model):
        if not isinstance(obj, Tree):
            continue
        n = int(obj.node_count)
        left, right = np.asarray(obj.children_left), np.asarray(obj.children_right)
        feature = np.asarray(obj.feature)
        node = np.arange(n)
        leaf = left == -1
        ok = (len(left) == len(right) == len(feature) == n and n > 0
              and bool(np.all(right[leaf] == -1))
              and bool(np.all((left[~leaf] > node[~leaf]) & (left[~leaf] < n)))
              and bool(np.all((right[~leaf] > node[~leaf]) & (right[~leaf] < n)))
              and bool(np.all((feature[~leaf] >= 0) & (feature[~leaf] < obj.n_features))))
        if not ok:
            raise ModelFileError(f"model file {source} contains a decision tree whose node "
                                 "indices are out of range (corrupted or crafted); refused")


# --------------------------------------------------------------------------------------------
# save


def save_models(
    directory: str | Path,
    fitted_by_key: Mapping[tuple[str, str], object],
    *,
    cutoffs: Mapping[tuple[str, str], Mapping[str, float]],
    training_data_hash: str,
    config: Mapping,
    time_unit: str = "days",
    horizons_months: Sequence[float] = HORIZONS_MONTHS,
) -> Path:
    """Write every component of every fitted recipe as a skops file, plus ``manifest.json``.

    Parameters
    ----------
    directory
        Output folder (created). Existing model files of the same names are overwritten.
    fitted_by_key
        ``{(recipe, endpoint): FittedRecipe}`` (:func:`hccfusion.models.fit_recipe`).
    cutoffs
        ``{(recipe, endpoint): {component: cut-off}}``, the frozen risk cut-offs (the training
        median score, see :func:`median_cutoffs`); a score at or above its cut-off is the
        ``high`` group (:func:`hccfusion.stratify.risk_groups`). Every component needs one.
    training_data_hash
        Hash of the training data the models were fitted on (e.g. :func:`table_sha256`).
    config
        The workflow config: its model seed and a hash of it go into the manifest.
    time_unit
        Unit of the survival time columns (``days``, ``weeks``, ``months``, ``years``), to turn
        ``horizons_months`` into times.
    horizons_months
        Horizons of the predicted survival probabilities.

    Returns the manifest's path. Models are checked to load back under the trusted-type policy of
    :func:`load_models` before anything is written.
    """
    from hccfusion.models import model_seed

    directory = Path(directory)
    horizons = [float(m) for m in horizons_months]
    times = [float(from_months(m, time_unit)) for m in horizons]
    files: dict[str, bytes] = {}
    models = []
    for key in sorted(fitted_by_key):
        recipe, endpoint = (_check_name(k, what) for k, what in zip(key, ("recipe", "endpoint"),
                                                                     strict=True))
        fitted = fitted_by_key[key]
        missing = [c for c in fitted.components if c not in (cutoffs.get(key) or {})]
        if missing:
            raise ValueError(f"{recipe}/{endpoint}: no risk cut-off for component(s) "
                             f"{', '.join(missing)}")
        for component, estimator in fitted.components.items():
            _check_name(component, "component")
            where = f"{recipe}/{endpoint}/{component}"
            try:
                data = _canonical_skops(_without_pandas(estimator))
            except (TypeError, ValueError, AttributeError) as exc:
                raise ModelFileError(f"{where} cannot be stored with skops: {exc}") from exc
            _load_bytes(data, where)  # refuse now what load_models would refuse later
            name = f"{recipe}__{endpoint}__{component}.skops"
            files[name] = data
            if component in fitted.component_inputs:  # a comparator reads its own columns
                blocks = {b: list(c) for b, c in fitted.component_inputs[component].items()}
            elif component in fitted.blocks:
                blocks = {component: list(fitted.blocks[component])}
            else:
                blocks = {b: list(c) for b, c in fitted.blocks.items()}
            entry = {
                "file": name,
                "sha256": _sha256(data),
                "recipe": recipe,
                "endpoint": endpoint,
                "kind": fitted.kind,
                "definition": {k: fitted.endpoint[k] for k in ("type", "time", "event")
                               if k in fitted.endpoint},
                "component": component,
                "blocks": blocks,
                "features": {
                    "clinical": list(blocks.get("clinical", [])),
                    "radiomics": [c for b, cols in blocks.items() if b != "clinical"
                                  for c in cols],
                    "categorical": _categorical_inputs(estimator),
                },
                "score": ("probability of the event" if fitted.kind == "binary"
                          else "risk score, higher = shorter survival"),
                "cutoff": float(cutoffs[key][component]),
            }
            if fitted.kind == "survival":
                entry["horizon_times"] = times
            models.append(entry)
    manifest = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "versions": _versions(),
        "training_data_sha256": str(training_data_hash),
        "config_seed": model_seed(config),
        "config_sha256": _sha256(json.dumps(_jsonable(config), sort_keys=True).encode()),
        "time_unit": time_unit,
        "horizons_months": horizons,
        "risk_group": "high if score >= cutoff (training median), else low",
        "models": models,
    }
    directory.mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        (directory / name).write_bytes(data)
    path = directory / MANIFEST
    path.write_text(json.dumps(manifest, indent=2) + "\n")
    log.info("saved %d model(s) to %s", len(models), directory)
    return path


# --------------------------------------------------------------------------------------------
# load


@dataclass(frozen=True)
class LoadedModels:
    """Models read back by :func:`load_models`.

    ``recipes[(recipe, endpoint)]`` is a :class:`hccfusion.models.FittedRecipe` holding the
    loaded components (no training patients or outcomes: those are never saved); ``entries``
    are the manifest's records, one per model file, in manifest order.
    """

    directory: Path
    manifest: dict
    recipes: dict[tuple[str, str], object]
    entries: tuple[dict, ...]


def _read_manifest(directory: Path) -> dict:
    path = directory / MANIFEST
    if not path.is_file():
        raise ModelFileError(f"model directory {directory}: no {MANIFEST}")
    try:
        manifest = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ModelFileError(f"{path} is not valid JSON: {exc}") from exc
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise ModelFileError(f"{path} is not an hccfusion model manifest")
    if manifest.get("format_version") != FORMAT_VERSION:
        raise ModelFileError(f"{path}: manifest format version {manifest.get('format_version')!r}"
                             f" is not supported (expected {FORMAT_VERSION})")
    if not manifest.get("models"):
        raise ModelFileError(f"{path} lists no models")
    return manifest


def _check_versions(manifest: dict, path: Path, allow_mismatch: bool) -> None:
    saved = manifest.get("versions") or {}
    running = _versions()
    bad = [f"{lib} {saved.get(lib)} (running {running[lib]})" for lib in _VERSION_CHECKED
           if _major_minor(str(saved.get(lib))) != _major_minor(running[lib])]
    if bad:
        message = (f"{path}: models were saved with {', '.join(bad)}; fitted estimators are only "
                   "guaranteed to predict the same with the major.minor version that fitted them")
        if not allow_mismatch:
            raise ModelFileError(message + " (refit, install those versions, or pass "
                                 "--allow-version-mismatch)")
        warnings.warn(message, UserWarning, stacklevel=3)
        log.warning("%s", message)
    if saved.get("hccfusion") != __version__:
        log.warning("%s: models were saved with hccfusion %s, running %s", path,
                    saved.get("hccfusion"), __version__)


def load_models(directory: str | Path, *, allow_version_mismatch: bool = False) -> LoadedModels:
    """Read a model directory written by :func:`save_models`.

    Refuses (:class:`ModelFileError`, naming the file or type) a missing or altered manifest,
    a model file that is missing or whose SHA-256 differs from the manifest's, a file containing a
    type outside the allowlist, and scikit-learn / scikit-survival major.minor versions different
    from the ones that saved the models (a warning instead with ``allow_version_mismatch``).
    """
    from hccfusion.models import FittedRecipe

    directory = Path(directory)
    manifest = _read_manifest(directory)
    _check_versions(manifest, directory / MANIFEST, allow_version_mismatch)
    components: dict[tuple[str, str], dict] = {}
    meta: dict[tuple[str, str], dict] = {}
    for entry in manifest["models"]:
        absent = [k for k in _ENTRY_KEYS if k not in entry]
        if absent:
            raise ModelFileError(f"{directory / MANIFEST}: a model entry lacks {', '.join(absent)}")
        name = _check_name(entry["file"], "model file name")
        path = directory / name
        if not path.is_file():
            raise ModelFileError(f"model file {path} listed in the manifest is missing")
        data = path.read_bytes()
        if _sha256(data) != entry.get("sha256"):
            raise ModelFileError(f"model file {path} does not match the SHA-256 in the manifest "
                                 "(altered or replaced after saving); refused")
        key = (entry["recipe"], entry["endpoint"])
        components.setdefault(key, {})[entry["component"]] = _load_bytes(data, str(path))
        blocks = meta.setdefault(key, {"kind": entry["kind"], "definition": entry["definition"],
                                       "blocks": {}})["blocks"]
        for block, cols in entry["blocks"].items():
            blocks.setdefault(block, list(cols))
    recipes = {
        key: FittedRecipe(
            kind=meta[key]["kind"],
            endpoint=dict(meta[key]["definition"]),
            blocks=meta[key]["blocks"],
            components=comps,
            train_index=pd.Index([], name="patient_id"),
            y_train=np.empty(0),
        )
        for key, comps in components.items()
    }
    log.info("loaded %d model(s) from %s", len(manifest["models"]), directory)
    return LoadedModels(directory=directory, manifest=manifest, recipes=recipes,
                        entries=tuple(manifest["models"]))


# --------------------------------------------------------------------------------------------
# predict


def read_table(path: str | Path, what: str) -> pd.DataFrame:
    """Read a TSV with a ``patient_id`` column (kept as text), naming the file on failure."""
    path = Path(path)
    if not path.is_file():
        raise TableError(f"{what} table {path} does not exist")
    try:
        table = pd.read_csv(path, sep="\t", dtype={"patient_id": str})
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise TableError(f"{what} table {path} is not a readable TSV: {exc}") from exc
    table.attrs["source"] = str(path)
    return table


def _indexed(table: pd.DataFrame, what: str) -> pd.DataFrame:
    source = table.attrs.get("source", f"{what} table")
    if "patient_id" not in table.columns:
        raise TableError(f"{source}: no 'patient_id' column")
    ids = table["patient_id"]
    if ids.isna().any():
        raise TableError(f"{source}: {int(ids.isna().sum())} row(s) without a patient_id")
    ids = ids.astype(str)
    dup = ids[ids.duplicated()].unique()
    if len(dup):
        raise TableError(f"{source}: duplicated patient_id: {name_list(dup)}")
    return table.drop(columns="patient_id").set_index(pd.Index(ids, name="patient_id"))


def _input_frame(models: LoadedModels, features: pd.DataFrame,
                 clinical: pd.DataFrame) -> pd.DataFrame:
    """Clinical and radiomics inputs of every model, one row per patient, typed as in training."""
    feat = _indexed(features, "features")
    clin = _indexed(clinical, "clinical")
    fsrc = features.attrs.get("source", "features table")
    csrc = clinical.attrs.get("source", "clinical table")
    mismatch = id_mismatch(clin.index, feat.index, f"in {csrc} but not in {fsrc}",
                           f"in {fsrc} but not in {csrc}")
    if mismatch:
        raise TableError("unknown patient(s), the tables must list the same patients; "
                         + mismatch)
    need_clin: dict[str, None] = {}
    need_rad: dict[str, None] = {}
    categorical: set[str] = set()
    for entry in models.entries:
        need_clin.update(dict.fromkeys(entry["features"]["clinical"]))
        need_rad.update(dict.fromkeys(entry["features"]["radiomics"]))
        categorical.update(entry["features"].get("categorical", []))
    derived = [c for c in need_rad if c not in feat.columns and c.startswith("score_")]
    if derived:  # existing clinical scores (comparators) are computed from the clinical table
        from hccfusion.clinical_scores import compute_scores

        scores, _ = compute_scores(clin.reset_index(), [c[len("score_"):] for c in derived],
                                   on_missing="exclude")
        feat = feat.join(scores.add_prefix("score_")[derived])
    missing = []
    for cols, table, src in ((need_clin, clin, csrc), (need_rad, feat, fsrc)):
        absent = [c for c in cols if c not in table.columns]
        if absent:
            missing.append(f"{src} lacks {len(absent)} column(s) the models need: "
                           f"{name_list(absent)}")
    if missing:
        raise TableError("; ".join(missing))
    frame = pd.concat([clin[list(need_clin)], feat.loc[clin.index, list(need_rad)]], axis=1)
    out = {}
    for col in frame.columns:
        s = frame[col]
        if col in categorical:
            out[col] = s.map(lambda v: v if pd.isna(v) else str(v)).astype(object)
            continue
        if pd.api.types.is_bool_dtype(s) or pd.api.types.is_numeric_dtype(s):
            out[col] = s.astype(float)
            continue
        parsed = pd.to_numeric(s, errors="coerce")
        bad = s.notna() & parsed.isna()
        if bad.any():
            src = csrc if col in need_clin else fsrc
            cells = [f"{pid}={s.loc[pid]!r}" for pid in s.index[bad]]
            raise TableError(f"{src} column '{col}' must be numeric; non-numeric values for "
                             f"patients: {name_list(cells)}")
        out[col] = parsed.astype(float)
    return pd.DataFrame(out, index=frame.index)


def predict(models: LoadedModels, features: pd.DataFrame, clinical: pd.DataFrame) -> pd.DataFrame:
    """Apply every loaded model to new patients.

    ``features``: radiomics table, ``clinical``: clinical table, both with a ``patient_id``
    column and the same patients (outcome columns are not needed). Returns one row per patient
    and model: ``patient_id, recipe, endpoint, component, score, probability`` (binary
    endpoints: the score, a probability of the event) ``, surv_<m>m`` (survival endpoints: the
    survival probability at each horizon, NaN past the training follow-up) ``, risk_group``
    (``high`` when the score is at or above the model's frozen training-median cut-off, else
    ``low``, as :func:`hccfusion.stratify.risk_groups`; reversed for the probability of a
    favourable binary outcome such as response, see :func:`hccfusion.stratify.higher_is_worse`).
    Raises :class:`~hccfusion.errors.TableError` naming missing feature columns, patients in one
    table only, duplicated ids and non-numeric values of numeric features.
    """
    from hccfusion.stratify import higher_is_worse, risk_groups

    frame = _input_frame(models, features, clinical)
    months = models.manifest["horizons_months"]
    surv_cols = [f"surv_{m:g}m" for m in months]
    cutoff = {(e["recipe"], e["endpoint"], e["component"]): e["cutoff"] for e in models.entries}
    parts = []
    for (recipe, endpoint), fitted in models.recipes.items():
        scores = fitted.predict(frame)
        surv = {}
        if fitted.kind == "survival":
            entry = next(e for e in models.entries
                         if (e["recipe"], e["endpoint"]) == (recipe, endpoint))
            surv = fitted.predict_survival(frame, np.asarray(entry["horizon_times"], dtype=float))
        for component, score in scores.items():
            score = np.asarray(score, dtype=float)
            part = pd.DataFrame({"patient_id": frame.index.to_numpy(), "recipe": recipe,
                                 "endpoint": endpoint, "component": component, "score": score})
            part["probability"] = score if fitted.kind == "binary" else np.nan
            probs = np.asarray(surv.get(component, np.full((len(frame), len(months)), np.nan)),
                               dtype=float)
            for j, col in enumerate(surv_cols):
                part[col] = probs[:, j]
            part["risk_group"] = risk_groups(score, cutoff[(recipe, endpoint, component)],
                                             higher_is_worse=higher_is_worse(fitted.endpoint))
            parts.append(part)
    table = pd.concat(parts, ignore_index=True)
    log.info("predicted %d patient(s) with %d model(s)", len(frame), len(models.entries))
    return table
