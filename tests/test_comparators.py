"""Named comparators (seeds 000, 003): existing scores and unfused blocks, fitted on training
patients like every component and compared with the fusion model."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sksurv.metrics import concordance_index_censored
from sksurv.util import Surv
from test_cohort import CFG, modelling_tables
from test_models import LIGHT

from hccfusion.cohort import assemble, endpoint_target
from hccfusion.models import fit_recipe
from hccfusion.models.comparators import ScoreModel
from hccfusion.split import make_split

OS = CFG["endpoints"]["os"]
RESPONSE = CFG["endpoints"]["response"]
MRECIST = ["CR", "PR", "SD", "PD"]


@pytest.fixture(scope="module")
def cohort():
    clin, rad, _ = modelling_tables()
    return assemble(clin, rad, make_split(clin, CFG))


def test_score_model_learns_direction_on_training_only():
    rng = np.random.default_rng(1)
    n = 300
    stage = rng.integers(0, 4, n).astype(float)
    time = rng.exponential(np.exp(-0.7 * stage)) * 1000 + 1
    event = rng.random(n) < 0.8
    y = Surv.from_arrays(event, time)
    X = pd.DataFrame({"stage": stage, "reversed": -stage},
                     index=[f"P{i}" for i in range(n)])
    for col in ("stage", "reversed"):
        model = ScoreModel(col, kind="survival").fit(X, y)
        risk = model.predict(X)
        assert concordance_index_censored(event, time, risk)[0] > 0.65, col
        assert np.sign(model.coef_) == (1 if col == "stage" else -1)
    # Survival functions: non-increasing, worse stage lower.
    surv = model.predict_survival_function(X.iloc[:2], return_array=True)
    assert (np.diff(surv, axis=1) <= 1e-12).all()


def test_score_model_ordinal_levels_and_errors():
    X = pd.DataFrame({"mrecist": ["CR", "PR", "SD", "PD", None, "PR"] * 10})
    X.index = [f"P{i}" for i in range(len(X))]
    y = np.array([1, 1, 0, 0, 1, 0] * 10)
    model = ScoreModel("mrecist", kind="binary", order=MRECIST).fit(X, y)
    assert model.n_imputed_ == 10 and model.median_ == 1.0
    assert model.coef_ < 0  # later categories (worse mRECIST) mean less response
    prob = model.predict_proba(X)[:, 1]
    assert prob[0] > prob[1] > prob[2] > prob[3]
    bad = X.copy()
    bad.iloc[7, 0] = "NE"
    with pytest.raises(ValueError, match=r"'mrecist': values outside the order .* P7='NE'"):
        model.predict_proba(bad)
    with pytest.raises(ValueError, match="not numeric for patients P0='CR'"):
        ScoreModel("mrecist", kind="binary").fit(X, y)
    with pytest.raises(ValueError, match="'ecog' is not in the cohort table"):
        ScoreModel("ecog").fit(X, y)


def test_comparators_in_a_recipe(cohort):
    comparators = [{"name": "radiomics_only", "blocks": ["radiomics"]},
                   {"name": "Child-Pugh", "column": "child_pugh_score"}]
    fit = fit_recipe(cohort, OS, ["clinical"], LIGHT, comparators=comparators)
    assert list(fit.components) == ["clinical", "radiomics_only", "Child-Pugh"]
    for name in fit.components:
        assert np.isfinite(fit.train_cv[name]).all(), name
        assert np.isfinite(fit.train_cv_survival[name]).any(), name
    rows = cohort.rows("external")
    tgt = endpoint_target(rows, OS)
    pred = fit.predict(rows.loc[tgt.index])
    c = concordance_index_censored(tgt.y["event"], tgt.y["time"], pred["radiomics_only"])[0]
    assert c > 0.65  # the planted survival features are radiomics
    surv = fit.predict_survival(rows.loc[tgt.index], [365.0])
    assert ((surv["Child-Pugh"] > 0) & (surv["Child-Pugh"] < 1)).all()
    with pytest.raises(ValueError, match=r"comparator name\(s\) \['clinical'\] clash"):
        fit_recipe(cohort, OS, ["clinical"], LIGHT, oof=False,
                   comparators=[{"name": "clinical", "column": "albi"}])
    fit_b = fit_recipe(cohort, RESPONSE, ["clinical"], LIGHT, oof=False,
                       comparators=[{"name": "ALBI", "column": "albi"}])
    prob = fit_b.predict(cohort.rows("internal"))["ALBI"]
    assert ((prob > 0) & (prob < 1)).all()


def test_recipe_comparators_persist_and_predict(tmp_path):
    """A recipe with an mRECIST column and a computed CLIP score: the saved models load, and
    `predict` on new patients recomputes CLIP from the clinical table and reads mRECIST text."""
    import copy

    from hccfusion.persist import load_models, median_cutoffs, predict, save_models, table_sha256
    from hccfusion.recipes import run_recipe

    clin, rad, _ = modelling_tables()
    split = make_split(clin, CFG)
    cfg = copy.deepcopy(LIGHT)
    cfg.update(clinical_features={"exclude": CFG["clinical"]["exclude"]},
               evaluation={"horizons_months": [6, 12], "time_unit": "days"},
               recipes={"MMF-like": {"endpoints": ["os"], "blocks": ["clinical"], "comparators": [
                   {"name": "mRECIST", "column": "mrecist_3m", "order": MRECIST},
                   {"name": "CLIP", "score": "clip"}]}})
    _, preds, details = run_recipe("MMF-like", "os", cfg, clin, rad, split, with_details=True,
                                   performance=False)
    assert set(preds.component) == {"clinical", "mRECIST", "CLIP"}
    fitted = details.fitted
    assert fitted.component_inputs == {"mRECIST": {"clinical": ["mrecist_3m"]},
                                       "CLIP": {"scores": ["score_clip"]}}
    out = tmp_path / "models"
    save_models(out, {("MMF-like", "os"): fitted},
                cutoffs={("MMF-like", "os"): median_cutoffs(fitted, details.training)},
                config=cfg, training_data_hash=table_sha256(details.training))
    new = clin[clin.center == "B"].drop(columns=["os_days", "os_event"]).head(12)
    new.attrs["source"] = "new.tsv"
    table = predict(load_models(out), rad[rad.patient_id.isin(new.patient_id)], new)
    internal = preds[(preds.cohort == "external")].set_index(["component", "patient_id"]).score
    for comp in ("mRECIST", "CLIP"):
        got = table[table.component == comp].set_index("patient_id").score
        np.testing.assert_allclose(got, internal.loc[comp].loc[got.index], rtol=1e-10)


def test_missing_score_inputs_impute_or_stop(tmp_path):
    """A clinical score whose input is missing: training median with a warning (impute), or an
    error naming the patient and the column (on_missing: error)."""
    from hccfusion.errors import TableError
    from hccfusion.recipes import comparator_specs

    clin, _, _ = modelling_tables()
    clin = clin.copy()
    clin.loc[clin.index[2], "afp_ng_ml"] = np.nan
    pid = clin.patient_id.iloc[2]
    specs, scores = comparator_specs({"comparators": [{"name": "CLIP", "score": "clip"}]}, clin)
    assert specs == [{"name": "CLIP", "column": "score_clip"}]
    clip = scores.set_index("patient_id").score_clip
    assert np.isnan(clip[pid]) and clip.notna().sum() > 100  # NaN: imputed at fit time
    with pytest.raises(TableError, match=rf"{pid}.*afp_ng_ml|afp_ng_ml.*{pid}"):
        comparator_specs({"comparators": [{"name": "CLIP", "score": "clip",
                                           "on_missing": "error"}]}, clin)
