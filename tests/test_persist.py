"""Saved models: they reload to identical predictions, refuse altered or foreign files, and
``hccfusion predict`` applies them to new patients with checked inputs."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import skops.io as sio
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer
from test_cohort import CFG, modelling_tables

from hccfusion import persist
from hccfusion.cli import main
from hccfusion.cohort import assemble
from hccfusion.errors import TableError
from hccfusion.models import fit_recipe
from hccfusion.persist import ModelFileError, load_models, predict, save_models
from hccfusion.split import make_split

BLOCKS = ["clinical", "radiomics"]
KEYS = {("PRIME-R", "response"): CFG["endpoints"]["response"],
        ("PRIME-S", "os"): CFG["endpoints"]["os"]}
SURV = ["surv_6m", "surv_12m", "surv_24m", "surv_36m"]
COLUMNS = ["patient_id", "recipe", "endpoint", "component", "score", "probability", *SURV,
           "risk_group"]


class Payload:
    """A class from outside the allowlist whose loading would run code (writes ``marker``)."""

    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __setstate__(self, state):
        Path(state["marker"]).write_text("code from a model file ran")
        self.__dict__.update(state)


@pytest.fixture(scope="module")
def cohort():
    clin, rad, _ = modelling_tables()
    return assemble(clin, rad, make_split(clin, CFG))


@pytest.fixture(scope="module")
def fitted(cohort):
    return {key: fit_recipe(cohort, ep, BLOCKS, CFG, oof=False) for key, ep in KEYS.items()}


@pytest.fixture(scope="module")
def cutoffs(cohort, fitted):
    train = cohort.rows("train")
    return {key: persist.median_cutoffs(f, train) for key, f in fitted.items()}


@pytest.fixture(scope="module")
def saved(tmp_path_factory, cohort, fitted, cutoffs):
    out = tmp_path_factory.mktemp("models") / "models"
    save_models(out, fitted, cutoffs=cutoffs, config=CFG,
                training_data_hash=persist.table_sha256(cohort.rows("train")))
    return out


@pytest.fixture
def models_copy(saved, tmp_path):
    out = tmp_path / "models"
    shutil.copytree(saved, out)
    return out


def _tables(rows: pd.DataFrame, cohort) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(features, clinical) input tables of ``rows`` as a user would give them: no outcomes."""
    clinical_cols = [c for c in cohort.clinical_columns if c not in CFG["clinical"]["exclude"]]
    features = rows[list(cohort.radiomics_columns)].reset_index()
    clinical = rows[clinical_cols].reset_index()
    return features, clinical


def _rehash(directory: Path, name: str) -> None:
    """Update the manifest's SHA-256 of ``name`` to the file's current content."""
    path = directory / persist.MANIFEST
    manifest = json.loads(path.read_text())
    digest = hashlib.sha256((directory / name).read_bytes()).hexdigest()
    for entry in manifest["models"]:
        if entry["file"] == name:
            entry["sha256"] = digest
    path.write_text(json.dumps(manifest))


def test_round_trip_gives_identical_predictions(cohort, fitted, cutoffs, saved):
    models = load_models(saved)
    rows = cohort.rows("external")
    table = predict(models, *_tables(rows, cohort))
    assert list(table.columns) == COLUMNS
    n_models = sum(len(f.components) for f in fitted.values())
    assert len(table) == len(rows) * n_models == len(rows) * len(models.entries)
    for (recipe, endpoint), fit in fitted.items():
        mine = table[(table.recipe == recipe) & (table.endpoint == endpoint)]
        times = [m * 365.25 / 12 for m in (6, 12, 24, 36)]
        surv = fit.predict_survival(rows, np.asarray(times)) if fit.kind == "survival" else {}
        for component, score in fit.predict(rows).items():
            got = mine[mine.component == component]
            assert list(got.patient_id) == list(rows.index)
            np.testing.assert_array_equal(got.score.to_numpy(), score)
            cut = cutoffs[(recipe, endpoint)][component]
            # Response is favourable: a low probability is the high-risk group.
            at_risk = score <= cut if fit.kind == "binary" else score >= cut
            assert list(got.risk_group) == list(np.where(at_risk, "high", "low"))
            if fit.kind == "binary":
                np.testing.assert_array_equal(got.probability.to_numpy(), score)
                assert got[SURV].isna().all().all()
            else:
                assert got.probability.isna().all()
                probs = got[SURV].to_numpy()
                np.testing.assert_array_equal(probs, np.asarray(surv[component]))
                # Within the training follow-up (about 2000 days): real, decreasing probabilities.
                assert np.isfinite(probs).all() and ((probs >= 0) & (probs <= 1)).all()
                assert (np.diff(probs, axis=1) <= 1e-12).all()
                # Higher risk score, lower 24-month survival.
                assert np.corrcoef(score, probs[:, 2])[0, 1] < -0.5


def test_cutoff_is_the_training_median(cohort, saved):
    models = load_models(saved)
    table = predict(models, *_tables(cohort.rows("train"), cohort))
    share_high = table.groupby(["endpoint", "component"]).risk_group.apply(
        lambda g: (g == "high").mean())
    assert ((share_high >= 0.5) & (share_high < 0.55)).all(), share_high


def test_manifest_describes_the_models(cohort, fitted, cutoffs, saved):
    import sklearn
    import sksurv

    manifest = json.loads((saved / "manifest.json").read_text())
    versions = manifest["versions"]
    assert versions["scikit-learn"] == sklearn.__version__
    assert versions["scikit-survival"] == sksurv.__version__
    assert {"hccfusion", "python", "numpy", "skops"} <= set(versions)
    assert manifest["training_data_sha256"] == persist.table_sha256(cohort.rows("train"))
    assert manifest["config_seed"] == CFG["split"]["seed"]
    assert manifest["horizons_months"] == [6, 12, 24, 36] and manifest["time_unit"] == "days"
    entries = {(e["recipe"], e["endpoint"], e["component"]): e for e in manifest["models"]}
    assert len(entries) == sum(len(f.components) for f in fitted.values())
    for (recipe, endpoint, component), e in entries.items():
        data = (saved / e["file"]).read_bytes()
        assert e["sha256"] == hashlib.sha256(data).hexdigest()
        assert e["cutoff"] == cutoffs[(recipe, endpoint)][component]
        assert e["definition"] == KEYS[(recipe, endpoint)]
        assert e["kind"] == KEYS[(recipe, endpoint)]["type"]
    fusion = entries[("PRIME-S", "os", "fusion")]
    assert fusion["features"]["clinical"] == fitted[("PRIME-S", "os")].blocks["clinical"]
    assert fusion["features"]["radiomics"] == list(cohort.radiomics_columns)
    assert "sex" in fusion["features"]["categorical"] and "age" not in fusion["features"][
        "categorical"]
    radiomics_only = entries[("PRIME-S", "os", "radiomics")]["features"]
    assert radiomics_only["clinical"] == [] and radiomics_only["categorical"] == []
    assert entries[("PRIME-S", "os", "fusion")]["horizon_times"][1] == pytest.approx(365.25)


def test_saving_is_deterministic(tmp_path, fitted, cutoffs, saved):
    again = tmp_path / "again"
    save_models(again, fitted, cutoffs=cutoffs, config=CFG,
                training_data_hash=json.loads((saved / "manifest.json").read_text())[
                    "training_data_sha256"])
    names = sorted(p.name for p in saved.iterdir())
    assert names == sorted(p.name for p in again.iterdir())
    for name in names:
        assert (saved / name).read_bytes() == (again / name).read_bytes(), name


def test_flipped_byte_is_refused_by_the_hash(models_copy, capsys):
    name = "PRIME-S__os__fusion.skops"
    path = models_copy / name
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    with pytest.raises(ModelFileError, match=f"{name} does not match the SHA-256"):
        load_models(models_copy)
    # `hccfusion predict` checks the hash before it reads any table or model.
    assert main(["predict", "--models", str(models_copy), "--features", "absent.tsv",
                 "--clinical", "absent.tsv"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("hccfusion predict: error:") and "does not match the SHA-256" in err
    assert name in err
    path.unlink()
    with pytest.raises(ModelFileError, match=f"{name} listed in the manifest is missing"):
        load_models(models_copy)


@pytest.mark.parametrize(
    ("payload", "type_name"),
    [
        (lambda marker: Pipeline([("run", FunctionTransformer(
            func=os.system, kw_args={"command": f"touch {marker}"}))]),
         f"{os.system.__module__}.system"),
        (lambda marker: FunctionTransformer(func=eval), "builtins.eval"),
        (Payload, f"{__name__}.Payload"),
    ],
    ids=["os.system", "eval", "foreign-class"],
)
def test_foreign_type_is_refused_even_with_a_matching_hash(tmp_path, models_copy, payload,
                                                           type_name):
    marker = tmp_path / "code_ran"
    name = "PRIME-R__response__fusion.skops"
    sio.dump(payload(marker), models_copy / name)
    _rehash(models_copy, name)
    with pytest.raises(ModelFileError, match="outside the trusted allowlist") as err:
        load_models(models_copy)
    assert type_name in str(err.value) and name in str(err.value)
    assert not marker.exists()
    # The CLI refuses the same way, before reading any patient table.
    assert main(["predict", "--models", str(models_copy), "--features", "absent.tsv",
                 "--clinical", "absent.tsv"]) == 2


def test_allowlist_matches_whole_module_names():
    allowed = persist._type_allowed
    assert allowed("sklearn.linear_model._logistic.LogisticRegression")
    assert allowed("hccfusion.preprocess.MissingnessFilter") and allowed("numpy.dtype")
    assert allowed("scipy.optimize._optimize.OptimizeResult")  # FastSurvivalSVM keeps one
    assert not allowed("scipy.optimize._optimize.minimize")
    assert not allowed("sklearnx.Evil") and not allowed("hccfusion.cli.main")
    assert not allowed("numpy.f2py.compile") and not allowed("sklearn.datasets.fetch_openml")
    assert not allowed("builtins.eval") and not allowed("posix.system")


def test_other_library_versions_are_refused(models_copy):
    path = models_copy / "manifest.json"
    manifest = json.loads(path.read_text())
    manifest["versions"]["scikit-learn"] = "1.2.0"
    path.write_text(json.dumps(manifest))
    with pytest.raises(ModelFileError, match=r"scikit-learn 1\.2\.0 \(running"):
        load_models(models_copy)
    with pytest.warns(UserWarning, match="scikit-learn 1.2.0"):
        models = load_models(models_copy, allow_version_mismatch=True)
    assert len(models.entries) == 8


def test_cli_predict_end_to_end(tmp_path, cohort, cutoffs, saved, capsys):
    rows = cohort.rows("internal").iloc[:12]
    features, clinical = _tables(rows, cohort)
    features.to_csv(tmp_path / "features.tsv", sep="\t", index=False)
    clinical.to_csv(tmp_path / "clinical.tsv", sep="\t", index=False)
    out = tmp_path / "pred.tsv"
    code = main(["predict", "--models", str(saved), "--features", str(tmp_path / "features.tsv"),
                 "--clinical", str(tmp_path / "clinical.tsv"), "--out", str(out)])
    assert code == 0, capsys.readouterr().err
    table = pd.read_csv(out, sep="\t", dtype={"patient_id": str})
    assert list(table.columns) == COLUMNS
    assert len(table) == 12 * 8 and set(table.patient_id) == set(rows.index)
    assert set(table.risk_group) == {"high", "low"}
    cut = table.apply(lambda r: cutoffs[(r.recipe, r.endpoint)][r.component], axis=1)
    binary = table.endpoint == "response"
    at_risk = np.where(binary, table.score <= cut, table.score >= cut)
    assert (at_risk == (table.risk_group == "high")).all()
    surv = table[table.endpoint == "os"][SURV]
    assert surv.notna().all().all() and table[table.endpoint == "response"][SURV].isna().all().all()


def _run(tmp_path, features, clinical, saved):
    features.to_csv(tmp_path / "f.tsv", sep="\t", index=False)
    clinical.to_csv(tmp_path / "c.tsv", sep="\t", index=False)
    return main(["predict", "--models", str(saved), "--features", str(tmp_path / "f.tsv"),
                 "--clinical", str(tmp_path / "c.tsv"), "--out", str(tmp_path / "p.tsv")])


def test_cli_predict_names_missing_columns_and_unknown_patients(tmp_path, cohort, saved, capsys):
    features, clinical = _tables(cohort.rows("internal").iloc[:5], cohort)
    gone = cohort.radiomics_columns[3]
    assert _run(tmp_path, features.drop(columns=gone), clinical, saved) == 2
    err = capsys.readouterr().err
    assert "hccfusion predict: error:" in err and gone in err and "f.tsv" in err
    assert _run(tmp_path, features, clinical.drop(columns="albi"), saved) == 2
    err = capsys.readouterr().err
    assert "lacks 1 column(s) the models need: albi" in err and "c.tsv" in err

    stranger = features.copy()
    stranger.loc[2, "patient_id"] = "ZZ999"
    assert _run(tmp_path, stranger, clinical, saved) == 2
    err = capsys.readouterr().err
    assert "unknown patient" in err and "ZZ999" in err
    assert f"in {tmp_path / 'c.tsv'} but not in {tmp_path / 'f.tsv'}: {clinical.patient_id[2]}" in err

    twice = pd.concat([clinical, clinical.iloc[[1]]], ignore_index=True)
    assert _run(tmp_path, features, twice, saved) == 2
    assert f"duplicated patient_id: {clinical.patient_id[1]}" in capsys.readouterr().err

    typo = clinical.astype({"albi": object})
    typo.loc[3, "albi"] = "-2,4"
    assert _run(tmp_path, features, typo, saved) == 2
    assert f"{clinical.patient_id[3]}='-2,4'" in capsys.readouterr().err
    assert not (tmp_path / "p.tsv").exists()


def test_predict_checks_tables_in_python(cohort, saved):
    models = load_models(saved)
    features, clinical = _tables(cohort.rows("internal").iloc[:4], cohort)
    with pytest.raises(TableError, match="no 'patient_id' column"):
        predict(models, features.drop(columns="patient_id"), clinical)


def test_crafted_tree_indices_are_refused(models_copy):
    from sklearn.tree import DecisionTreeClassifier
    from sklearn.tree._tree import Tree

    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 3))
    tree = DecisionTreeClassifier(max_depth=4, random_state=0).fit(X, X[:, 0] * X[:, 1] > 0)
    name = "PRIME-R__response__clinical.skops"
    # An intact tree passes the checks (trees are trusted for the tree ensembles).
    sio.dump(tree, models_copy / name)
    _rehash(models_copy, name)
    load_models(models_copy)
    state = tree.tree_.__getstate__()
    state["nodes"]["right_child"][0] = 10**6  # predict would read far outside the node array
    crafted = Tree(tree.tree_.n_features, np.asarray(tree.tree_.n_classes), tree.tree_.n_outputs)
    crafted.__setstate__(state)
    tree.tree_ = crafted
    sio.dump(tree, models_copy / name)
    _rehash(models_copy, name)
    with pytest.raises(ModelFileError, match=f"{name} contains a decision tree whose node indices"):
        load_models(models_copy)
