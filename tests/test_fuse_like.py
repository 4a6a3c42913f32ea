"""A recipe's ``fuse_like`` (CRM of seeds 003/004): the referenced recipe's blocks enter its late
fusion as separate scores or as one early-fusion model, whichever the referenced recipe did
better with on its training cross-validation."""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd
import pytest
from test_cohort import CFG, modelling_tables
from test_models import LIGHT

from hccfusion.cohort import assemble, endpoint_target
from hccfusion.config import validate_config
from hccfusion.errors import ConfigError
from hccfusion.models import fit_recipe, group_name
from hccfusion.persist import load_models, save_models
from hccfusion.recipes import fusion_choice
from hccfusion.split import make_split

OS = CFG["endpoints"]["os"]


@pytest.fixture(scope="module")
def cohort():
    """The modelling tables with a third block, ``deep``: two noisy copies of the true OS risk
    and noise (as the deep branch's DL risk scores would be)."""
    clin, rad, truth = modelling_tables()
    rng = np.random.default_rng(5)
    lp = truth.set_index("patient_id").loc[clin.patient_id, "true_os_lp"].to_numpy()
    sd = lp.std()
    deep = pd.DataFrame({"patient_id": clin.patient_id,
                         "deep_risk_os": lp + rng.normal(0, 0.3 * sd, len(lp)),
                         "deep_risk_pfs": lp + rng.normal(0, 0.6 * sd, len(lp)),
                         "deep_emb_0": rng.normal(size=len(lp))})
    return assemble(clin, rad, make_split(clin, CFG), extra={"deep": deep})


def test_early_group_enters_the_late_fusion_as_one_score(cohort, tmp_path):
    fit = fit_recipe(cohort, OS, ["deep", "radiomics", "clinical"], LIGHT, oof=False,
                     early_groups=[["deep", "radiomics"]])
    group = group_name(["deep", "radiomics"])
    assert group == "early_deep_radiomics"
    assert list(fit.components) == ["deep", "radiomics", "clinical", group, "early_fusion",
                                    "fusion"]
    assert [name for name, _ in fit.components["fusion"].estimators] == [group, "clinical"]
    assert set(fit.fusion_weights) == {group, "clinical"}
    # The group model reads exactly its two blocks, and survives a save / load round trip.
    assert set(fit.component_inputs[group]) == {"deep", "radiomics"}
    save_models(tmp_path / "models", {("CRM", "os"): fit}, cutoffs={("CRM", "os"): dict.fromkeys(
        fit.components, 0.0)}, training_data_hash="0" * 64, config={}, time_unit="days",
        horizons_months=[12])
    loaded = load_models(tmp_path / "models").recipes[("CRM", "os")]
    rows = cohort.rows("external")
    target = endpoint_target(rows, OS)
    before, after = fit.predict(rows.loc[target.index]), loaded.predict(rows.loc[target.index])
    for name in fit.components:
        np.testing.assert_allclose(after[name], before[name], rtol=1e-12, err_msg=name)
    from sksurv.metrics import concordance_index_censored
    c = {name: concordance_index_censored(target.y["event"], target.y["time"], before[name])[0]
         for name in (group, "clinical")}
    # The group carries the planted imaging signal (measured 0.66 against clinical's 0.58).
    assert c[group] > c["clinical"] + 0.05, c
    with pytest.raises(ValueError, match="disjoint proper subsets"):
        fit_recipe(cohort, OS, ["deep", "radiomics"], LIGHT, oof=False,
                   early_groups=[["deep", "radiomics"]])


def _choice_inputs(early_better: bool):
    """Training patients with an outcome, and LFM train_cv scores: the true risk for one
    component, noise for the other."""
    rng = np.random.default_rng(2)
    n = 80
    lp = rng.normal(size=n)
    time = rng.exponential(np.exp(-lp)) * 500 + 1
    clinical = pd.DataFrame({"patient_id": [f"A{i:03d}" for i in range(n)], "os_days": time,
                             "os_event": (rng.random(n) < 0.8).astype(int)})
    good, bad = lp + rng.normal(0, 0.3, n), rng.normal(size=n)
    frames = [pd.DataFrame({"recipe": "LFM", "endpoint": "os", "patient_id": clinical.patient_id,
                            "cohort": "train_cv", "component": comp, "score": score})
              for comp, score in (("fusion", bad if early_better else good),
                                  ("early_fusion", good if early_better else bad))]
    # External patients' scores must play no part in the choice.
    frames.append(frames[0].assign(cohort="external", score=good if early_better else bad,
                                   component="fusion"))
    return pd.concat(frames, ignore_index=True), clinical


@pytest.mark.parametrize("early_better", [True, False])
def test_fusion_choice_uses_training_cv_only(early_better):
    cfg = {"endpoints": {"os": OS}, "bootstrap": {"n": 50, "seed": 1},
           "recipes": {"LFM": {"endpoints": ["os"], "blocks": ["deep", "radiomics"]},
                       "CRM": {"endpoints": ["os"], "blocks": ["deep", "radiomics", "clinical"],
                               "fuse_like": "LFM"}}}
    predictions, clinical = _choice_inputs(early_better)
    groups, table = fusion_choice("CRM", "os", cfg, predictions, clinical)
    assert groups == ([["deep", "radiomics"]] if early_better else [])
    assert list(table.component) == ["fusion", "early_fusion"]
    assert list(table.chosen) == [not early_better, early_better]
    assert (table.metric == "cindex").all() and (table.n == 80).all()
    assert (table.ci_lower <= table.estimate).all() and (table.estimate <= table.ci_upper).all()
    winner = table.estimate[table.chosen].item()
    assert winner > 0.7 and table.estimate[~table.chosen].item() < 0.6


def test_fuse_like_config_is_checked():
    base = {"recipes": {"LFM": {"endpoints": ["os"], "blocks": ["clinical", "radiomics"]},
                        "CRM": {"endpoints": ["os", "pfs"], "blocks": ["clinical", "radiomics"],
                                "fuse_like": "LFM"}}}
    with pytest.raises(ConfigError) as err:
        validate_config(base)
    text = str(err.value)
    assert "recipes.CRM.fuse_like': the blocks of LFM (clinical, radiomics) must be two" in text
    assert "LFM does not model endpoint(s) pfs" in text
    unknown = copy.deepcopy(base)
    unknown["recipes"]["CRM"]["fuse_like"] = "XYZ"
    with pytest.raises(ConfigError, match="'XYZ' is not another recipe"):
        validate_config(unknown)
    ok = copy.deepcopy(base)
    ok["habitats"] = {"enabled": True}
    ok["recipes"]["LFM"].update(endpoints=["os", "pfs"], blocks=["radiomics", "habitats"])
    ok["recipes"]["CRM"]["blocks"] = ["radiomics", "habitats", "clinical"]
    assert validate_config(ok)["recipes"]["CRM"]["fuse_like"] == "LFM"
    ok["recipes"]["LFM"]["fusion"] = "composite"
    with pytest.raises(ConfigError, match="both CRM and LFM need fusion: late"):
        validate_config(ok)
