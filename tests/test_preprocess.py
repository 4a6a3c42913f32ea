"""Block preprocessing: everything learned comes from the training rows only."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from hccfusion.preprocess import (
    MissingnessFilter,
    VarianceFilter,
    block_pipeline,
    feature_transformer,
)

PREP = {"max_missing_fraction": 0.3, "variance_threshold_binary": 0.01,
        "variance_threshold_survival": 0.1}


def _tables(seed=0, n_train=60, n_test=25):
    rng = np.random.default_rng(seed)
    n = n_train + n_test
    df = pd.DataFrame({
        "age": rng.normal(60, 10, n),
        "afp": rng.lognormal(3, 1.5, n),
        "ldh": rng.normal(220, 50, n),
        "treatment": rng.choice(["TACE", "HAIC"], n),
        "const": np.full(n, 2.0),
        "tiny": rng.uniform(0, 0.05, n),
    })
    df.loc[rng.random(n) < 0.15, "afp"] = np.nan
    df.loc[rng.random(n) < 0.5, "ldh"] = np.nan
    df.loc[rng.random(n) < 0.1, "treatment"] = np.nan
    return df.iloc[:n_train].copy(), df.iloc[n_train:].copy()


def test_missingness_filter_uses_training_fraction():
    train, test = _tables()
    f = MissingnessFilter(0.3).fit(train)
    assert "ldh" in f.dropped_ and "afp" not in f.dropped_
    test.loc[:, "afp"] = np.nan  # test missingness must not matter
    assert list(f.transform(test).columns) == f.columns_


def test_medians_are_training_medians_and_frozen():
    train, test = _tables()
    pipe = block_pipeline(PREP, "binary").fit(train)
    imputer = pipe.named_steps["encode"].named_transformers_["num"]
    kept = list(imputer.feature_names_in_)
    assert "ldh" not in kept
    np.testing.assert_allclose(imputer.statistics_, train[kept].median().to_numpy())
    # A test patient with a missing AFP gets the training median (z-scored with training stats).
    test = test.copy()
    test.iloc[0, test.columns.get_loc("afp")] = np.nan
    out = pipe.transform(test)
    scaler = pipe.named_steps["scale"]
    j = list(scaler.feature_names_in_).index("afp")
    expected = (train["afp"].median() - scaler.mean_[j]) / scaler.scale_[j]
    assert out["afp"].iloc[0] == pytest.approx(expected)
    # Refitting with permuted or perturbed test rows around cannot change anything learned.
    before = pipe.transform(train)
    perturbed = test.sample(frac=1.0, random_state=1).assign(age=lambda d: d.age * 100)
    pipe.transform(perturbed)
    pd.testing.assert_frame_equal(pipe.transform(train), before)


def test_training_output_is_zscored_and_onehot_handles_unknown():
    train, test = _tables()
    pipe = block_pipeline(PREP, "binary").fit(train)
    out = pipe.transform(train)
    np.testing.assert_allclose(out.mean(), 0, atol=1e-12)
    np.testing.assert_allclose(out.std(ddof=0), 1, atol=1e-12)
    assert {"treatment_TACE", "treatment_HAIC"} <= set(out.columns)
    test = test.copy()
    test["treatment"] = "TACE+HAIC"  # unseen category: all its dummies at their training zero
    res = pipe.transform(test)
    scaler = pipe.named_steps["scale"]
    for col in ("treatment_TACE", "treatment_HAIC"):
        j = list(scaler.feature_names_in_).index(col)
        np.testing.assert_allclose(res[col], -scaler.mean_[j] / scaler.scale_[j])


def test_variance_filter_raw_and_minmax():
    train, _ = _tables()
    num = train[["age", "const", "tiny"]]
    raw = VarianceFilter(0.01, "raw").fit(num)
    assert raw.columns_ == ["age"]  # "tiny" has raw variance ~2e-4
    mm = VarianceFilter(0.01, "minmax").fit(num)
    assert mm.columns_ == ["age", "tiny"]  # ~0.08 on the [0, 1] scale; constants always go
    with pytest.raises(ValueError, match="no feature has a training variance above"):
        VarianceFilter(10.0, "minmax").fit(num)
    with pytest.raises(ValueError, match="scale"):
        VarianceFilter(0.01, "zscore").fit(num)


def test_survival_threshold_is_used_for_survival():
    train, _ = _tables()
    for kind, thr in (("binary", 0.01), ("survival", 0.1)):
        pipe = block_pipeline(PREP, kind).fit(train)
        assert pipe.named_steps["variance"].threshold == thr
    # A treatment dummy with prevalence p has variance p(1-p) > 0.1 here and is kept.
    out = block_pipeline(PREP, "survival").fit(train).transform(train)
    assert "const" not in out.columns and "treatment_TACE" in out.columns
    assert "tiny" not in out.columns
    # The clinical block only loses constants: small-unit lab changes are kept.
    out = block_pipeline(PREP, "survival", "clinical").fit(train).transform(train)
    assert "const" not in out.columns and "tiny" in out.columns


def test_feature_transformer_concatenates_blocks():
    train, test = _tables()
    rad = pd.DataFrame(np.random.default_rng(1).normal(size=(len(train), 3)),
                       columns=["venous_a", "venous_b", "venous_c"], index=train.index)
    both = pd.concat([train, rad], axis=1)
    ct = feature_transformer({"clinical": list(train.columns), "radiomics": list(rad.columns)},
                             PREP, "binary").fit(both)
    out = ct.transform(both)
    assert "radiomics__venous_a" in out.columns and "clinical__age" in out.columns
    assert out.shape[0] == len(train)


def test_variance_screen_is_for_imaging_blocks_only():
    """Seed 001's raw-variance screen applies to radiomics-like blocks; clinical variables and
    deep-learning scores (small log-hazards) lose constant columns only."""
    from hccfusion.preprocess import variance_threshold

    assert variance_threshold(PREP, "survival", "radiomics") == 0.1
    assert variance_threshold(PREP, "binary", "habitats") == 0.01
    assert variance_threshold(PREP, "survival", "deep") == 0.0
    assert variance_threshold(PREP, "survival", "clinical") == 0.0
