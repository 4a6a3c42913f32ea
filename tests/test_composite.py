"""Composite-score fusion (GTR-ITH, seed 002): two blocks selected separately, one PCA score
oriented on training outcomes, an ensemble of learners; extra feature tables as blocks."""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score
from sksurv.metrics import concordance_index_censored
from test_cohort import CFG, modelling_tables
from test_models import LIGHT

from hccfusion.cohort import assemble, endpoint_target
from hccfusion.models import fit_recipe
from hccfusion.models.composite import CompositeScore
from hccfusion.split import make_split

RESPONSE = CFG["endpoints"]["response"]
OS = CFG["endpoints"]["os"]
BLOCKS = ["radiomics", "habitats"]


def _tables():
    """Radiomics keeps the response signal and half the noise; the habitats table carries the
    survival signal (renamed) and the other half of the noise."""
    clin, rad, _ = modelling_tables()
    hab_cols = [c for c in rad.columns if c.startswith("venous_")]
    habitats = rad[["patient_id", *hab_cols]].rename(
        columns={c: "habitat" + c.removeprefix("venous") for c in hab_cols})
    return clin, rad.drop(columns=hab_cols), habitats


@pytest.fixture(scope="module")
def cohort():
    clin, rad, hab = _tables()
    return assemble(clin, rad, make_split(clin, CFG), extra={"habitats": hab})


def test_extra_tables_are_blocks_and_checked():
    clin, rad, hab = _tables()
    split = make_split(clin, CFG)
    cohort = assemble(clin, rad, split, extra={"habitats": hab})
    assert cohort.block_columns("habitats") == list(hab.columns[1:])
    assert not set(cohort.block_columns("radiomics")) & set(hab.columns)
    with pytest.raises(ValueError, match=r"in clinical but not in habitats: .*A00"):
        assemble(clin, rad, split, extra={"habitats": hab.iloc[2:]})
    with pytest.raises(ValueError, match="habitats table already present.*arterial_original"):
        assemble(clin, rad, split, extra={"habitats": hab.assign(
            arterial_original_shape_Signal0=1.0)})
    bad = hab.astype({hab.columns[3]: object})
    bad.iloc[4, 3] = "n/a"
    with pytest.raises(ValueError, match=rf"habitats column '{hab.columns[3]}'.*"
                                         rf"{hab.patient_id[4]}='n/a'"):
        assemble(clin, rad, split, extra={"habitats": bad})


def test_composite_score_orientation_and_loadings():
    rng = np.random.default_rng(0)
    latent = rng.normal(size=200)
    X = np.c_[latent + rng.normal(0, 0.3, 200), -latent + rng.normal(0, 0.3, 200),
              rng.normal(size=200)]
    y = (latent + rng.normal(0, 0.5, 200) > 0).astype(int)
    for flip in (1, -1):  # the PCA sign is arbitrary; the orientation follows the outcome
        comp = CompositeScore().fit(X * flip, y)
        score = comp.transform(X * flip)[:, 0]
        assert roc_auc_score(y, score) > 0.8
        assert comp.explained_variance_ratio_[0] > 0.6
        # The two informative features load with opposite signs, the noise feature barely.
        load = comp.loadings_[:, 0]
        assert load[0] * load[1] < 0 and abs(load[2]) < 0.2


def test_composite_recipe_learns_and_stays_in_training(cohort):
    fit = fit_recipe(cohort, RESPONSE, BLOCKS, LIGHT, fusion="composite")
    assert list(fit.components) == ["radiomics", "habitats", "early_fusion", "fusion"]
    rows = cohort.rows("external")
    tgt = endpoint_target(rows, RESPONSE)
    pred = fit.predict(rows.loc[tgt.index])
    assert roc_auc_score(tgt.y, pred["fusion"]) > 0.7
    assert ((pred["fusion"] >= 0) & (pred["fusion"] <= 1)).all()
    assert np.isfinite(fit.train_cv["fusion"]).all()
    weights = fit.fusion_weights
    assert set(weights) == {"radiomics", "habitats"} and abs(sum(weights.values()) - 1) < 1e-9
    # The response signal is in the radiomics block: it dominates the composite.
    assert weights["radiomics"] > weights["habitats"]
    assert {"radiomics", "habitats"} == {c.partition("__")[0]
                                         for c in fit.selected_features["fusion"]}

    # Scrambling external patients' features changes nothing fitted.
    data = cohort.data.copy()
    ext = data.index[data.cohort == "external"]
    cols = list(cohort.radiomics_columns) + list(cohort.extra_blocks["habitats"])
    data.loc[ext, cols] = data.loc[ext, cols].to_numpy()[::-1] * 7.0
    altered = copy.copy(cohort)
    object.__setattr__(altered, "data", data)
    refit = fit_recipe(altered, RESPONSE, BLOCKS, LIGHT, fusion="composite", oof=False)
    train = cohort.data.loc[fit.train_index]
    np.testing.assert_array_equal(refit.predict(train)["fusion"], fit.predict(train)["fusion"])


def test_composite_survival_is_a_cox_model_of_the_score(cohort):
    fit = fit_recipe(cohort, OS, BLOCKS, LIGHT, fusion="composite", oof=False)
    fusion = fit.components["fusion"]
    rows = cohort.rows("internal")
    tgt = endpoint_target(rows, OS)
    risk = fit.predict(rows.loc[tgt.index])["fusion"]
    c = concordance_index_censored(tgt.y["event"], tgt.y["time"], risk)[0]
    assert c > 0.6
    # Oriented: a higher score is a higher hazard, so the Cox coefficient is positive.
    assert float(fusion.named_steps["model"].coef_[0]) > 0
    surv = fit.predict_survival(rows.loc[tgt.index], [180.0, 365.0])["fusion"]
    assert ((surv >= 0) & (surv <= 1)).all() and (surv[:, 1] <= surv[:, 0] + 1e-12).all()


def test_unknown_fusion_is_refused(cohort):
    with pytest.raises(ValueError, match="'late' or 'composite', got 'pca'"):
        fit_recipe(cohort, RESPONSE, BLOCKS, LIGHT, fusion="pca", oof=False)


def test_composite_table_columns_do_not_leak_into_radiomics(cohort):
    assert not any(c.startswith("habitat_") for c in cohort.block_columns("radiomics"))
    assert pd.Index(cohort.block_columns("habitats")).str.startswith("habitat_").all()
