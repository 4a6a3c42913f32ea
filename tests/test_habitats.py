"""Tests of hccfusion.habitats: supervoxels, population habitats, ITH metrics."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import SimpleITK as sitk
import yaml
from scipy.stats import spearmanr

from hccfusion.habitats import (
    VOXEL_FEATURES,
    HabitatModel,
    fit_population,
    habitat_masks,
    habitat_radiomics,
    ith_metrics,
    supervoxels,
)

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
REAL_CT = SHARED_DATA / "real_ct" / "sts_ct" / "STS_008"


def _load_cohort(root: Path) -> dict[str, tuple]:
    """{patient: (label_image, table, arterial, arterial_mask)} for centres A and B."""
    from hccfusion.imaging.ingest import read_image, read_mask

    sheet = pd.read_csv(root / "patients.tsv", sep="\t")
    out = {}
    for _, row in sheet.iterrows():
        art = read_image(root / row["arterial_image"])
        ven = read_image(root / row["venous_image"])
        mask = read_mask(root / row["arterial_mask"], art)
        labels, table = supervoxels(art, ven, mask, n_segments=100, seed=0)
        out[row["patient_id"]] = (labels, table, art, mask)
    return out


def _necrotic_fraction(patient_id: str, scale) -> float:
    """The demo's latent necrotic volume fraction of a patient's lesions (seed 1)."""
    from hccfusion.demo.anatomy import lesion_parameters
    from hccfusion.demo.cohort import simulate_patient

    centre, index = patient_id[0], int(patient_id[1:]) - 1
    latents = simulate_patient(1, centre, index, scale, geometry=False).latents
    return lesion_parameters(latents, scale)["necrotic_fraction"]


@pytest.fixture(scope="module")
def tiny_cohort(tiny_demo):
    return _load_cohort(tiny_demo)


@pytest.fixture(scope="module")
def default_subset(tmp_path_factory):
    """A small default-scale demo (tumours 10-40 mm): 16 + 6 patients, same latents as default."""
    from hccfusion.demo import generate_demo
    from hccfusion.demo.scales import SCALES

    scale = dataclasses.replace(SCALES["default"], n_a=16, n_b=6, n_matched=2)
    out = tmp_path_factory.mktemp("default_subset") / "demo"
    generate_demo(out, seed=1, scale=scale, images=True)
    return _load_cohort(out), SCALES["default"]


@pytest.fixture(scope="module")
def tiny_model(tiny_cohort):
    train, _ = _split(tiny_cohort)
    return fit_population(train, k=3, seed=0)


def _split(cohort):
    train = {p: v[1] for p, v in cohort.items() if p.startswith("A")}
    valid = [p for p in cohort if not p.startswith("A")]
    return train, valid


# --- supervoxels ------------------------------------------------------------------------------
def test_supervoxels_on_demo(tiny_cohort, tiny_demo):
    from hccfusion.imaging.ingest import read_image, read_mask

    labels, table, art, mask = tiny_cohort["A004"]
    assert labels.GetSpacing() == pytest.approx((1.0, 1.0, 1.0))
    arr = sitk.GetArrayFromImage(labels)
    assert list(table.index) == list(range(1, arr.max() + 1))
    assert table["n_voxels"].sum() == np.count_nonzero(arr)
    assert np.array_equal(np.bincount(arr.ravel())[1:], table["n_voxels"].to_numpy())
    assert set(VOXEL_FEATURES) <= set(table.columns)
    mask_mm3 = sitk.GetArrayViewFromImage(mask).sum() * np.prod(mask.GetSpacing())
    assert table["volume_mm3"].sum() == pytest.approx(mask_mm3, rel=0.15)
    assert len(table) > 5
    assert table["arterial"].between(-100, 300).all()
    # Deterministic.
    sheet = pd.read_csv(tiny_demo / "patients.tsv", sep="\t").set_index("patient_id")
    ven = read_image(tiny_demo / sheet.loc["A004", "venous_image"])
    art2 = read_image(tiny_demo / sheet.loc["A004", "arterial_image"])
    again = supervoxels(art2, ven, read_mask(tiny_demo / sheet.loc["A004", "arterial_mask"], art2),
                        n_segments=100, seed=0)
    assert np.array_equal(sitk.GetArrayFromImage(again[0]), arr)
    pd.testing.assert_frame_equal(again[1], table)


@pytest.mark.skipif(not SHARED_DATA.is_dir(), reason="shared real-CT data not available")
def test_supervoxels_on_real_ct():
    image = sitk.ReadImage(str(REAL_CT / "CT_image.nii.gz"))
    mask = sitk.ReadImage(str(REAL_CT / "CT_mask.nii.gz"))
    labels, table = supervoxels(image, image, mask, n_segments=100, seed=0)
    mask_mm3 = sitk.GetArrayViewFromImage(mask).sum() * np.prod(mask.GetSpacing())
    assert table["volume_mm3"].sum() == pytest.approx(mask_mm3, rel=0.05)
    assert 50 <= len(table) <= 110
    assert (table["arterial_minus_venous"].abs() < 1e-6).all()  # same image for both phases


# --- population model -------------------------------------------------------------------------
def test_necrotic_habitat_tracks_latent_necrosis(default_subset):
    cohort, scale = default_subset
    train, _ = _split(cohort)
    model = fit_population(train, k=3, seed=0)
    centres = model.centres_table()
    # Habitat 1 (lowest arterial HU) is also the lowest in the venous phase: non-enhancing core.
    assert centres["arterial"].idxmin() == 1 and centres["venous"].idxmin() == 1
    # Partial volume with the rim and liver lifts it above pure necrosis (~25-40 HU), but it stays
    # far below the enhancing rim (arterial ~120-145 HU).
    assert centres.loc[1, "arterial"] < 90 and centres.loc[1, "venous"] < 75
    assert centres.loc[3, "arterial"] - centres.loc[1, "arterial"] > 40
    fractions, truth = [], []
    for pid, (labels, table, _, _) in cohort.items():
        fractions.append(ith_metrics(model.assign(labels, table), model.k)["habitat1_fraction"])
        truth.append(_necrotic_fraction(pid, scale))
    rho = spearmanr(fractions, truth).statistic
    print(f"Spearman rho(habitat 1 fraction, latent necrotic fraction) = {rho:.2f}")
    assert rho > 0.5, rho


def test_population_fit_uses_training_patients_only(tiny_cohort, tiny_model):
    train, valid = _split(tiny_cohort)
    model = tiny_model
    assert model.n_train_patients == len(train)
    assert model.n_train_supervoxels == sum(len(t) for t in train.values())
    before = model.to_dict()
    maps = {p: model.assign(tiny_cohort[p][0], tiny_cohort[p][1]) for p in valid}
    assert model.to_dict() == before
    assert fit_population(train, k=3, seed=0).to_dict() == before  # reproducible
    for hmap in maps.values():
        assert set(np.unique(sitk.GetArrayViewFromImage(hmap))) <= {0, 1, 2, 3}
    # Habitats are ordered by arterial HU of the centre.
    assert np.all(np.diff(model.centres_table()["arterial"].to_numpy()) > 0)


def test_k_chosen_by_silhouette(tiny_cohort):
    train, _ = _split(tiny_cohort)
    model = fit_population(train, k=None, seed=0, k_range=(2, 3))
    assert set(model.silhouette) == {2, 3}
    assert model.k == max(model.silhouette, key=model.silhouette.get)


def test_json_round_trip_gives_identical_assignments(tiny_cohort, tiny_model, tmp_path):
    model = tiny_model
    path = tmp_path / "habitats.json"
    model.save(path)
    assert path.read_text().lstrip().startswith("{")
    loaded = HabitatModel.load(path)
    np.testing.assert_array_equal(loaded.centres, model.centres)
    np.testing.assert_array_equal(loaded.mean, model.mean)
    for labels, table, _, _ in tiny_cohort.values():
        a = sitk.GetArrayFromImage(model.assign(labels, table))
        b = sitk.GetArrayFromImage(loaded.assign(labels, table))
        assert np.array_equal(a, b)


# --- ITH metrics, masks, per-habitat radiomics ------------------------------------------------
def test_ith_metrics_on_hand_built_map():
    arr = np.zeros((10, 10, 10), dtype=np.uint8)
    arr[0:2, 0:2, 0:2] = 1  # habitat 1, sub-region of 8 voxels
    arr[5:8, 5:8, 5:8] = 1  # habitat 1, sub-region of 27 voxels
    arr[0:4, 6:10, 0:4] = 2  # habitat 2, one sub-region of 64 voxels
    hmap = sitk.GetImageFromArray(arr)
    hmap.SetSpacing((0.5, 0.5, 2.0))
    m = ith_metrics(hmap, k=3)
    total = 99
    assert m["habitat1_fraction"] == pytest.approx(35 / total)
    assert m["habitat2_fraction"] == pytest.approx(64 / total)
    assert m["habitat3_fraction"] == 0.0
    assert m["habitat1_volume_mm3"] == pytest.approx(35 * 0.5)
    assert m["habitat1_n_subregions"] == 2 and m["habitat2_n_subregions"] == 1
    assert m["habitat3_n_subregions"] == 0 and m["n_subregions_total"] == 3
    p = np.array([35, 64]) / total
    assert m["ith_entropy"] == pytest.approx(-(p * np.log2(p)).sum())
    assert m["ith_entropy_norm"] == pytest.approx(m["ith_entropy"] / math.log2(3))
    assert m["n_habitats_present"] == 2
    assert m["ith_score"] == pytest.approx(1 - (27 / 2 + 64 / 1) / total)
    # A homogeneous tumour: no heterogeneity.
    one = ith_metrics(np.pad(np.ones((3, 3, 3), dtype=np.uint8), 1), k=2)
    assert one["ith_entropy"] == 0.0 and one["ith_score"] == 0.0
    # Diagonal neighbours are one sub-region (26-connectivity).
    diag = np.zeros((3, 3, 3), dtype=np.uint8)
    diag[0, 0, 0] = diag[1, 1, 1] = 1
    assert ith_metrics(diag, k=1)["habitat1_n_subregions"] == 1


def test_habitat_masks_and_radiomics(tiny_cohort, tiny_model, tmp_path):
    model = tiny_model
    labels, table, art, _ = tiny_cohort["A009"]
    hmap = model.assign(labels, table)
    masks = habitat_masks(hmap)
    arr = sitk.GetArrayViewFromImage(hmap)
    assert sorted(masks) == sorted(int(h) for h in np.unique(arr) if h)
    for h, m in masks.items():
        assert np.array_equal(sitk.GetArrayViewFromImage(m), (arr == h).astype(np.uint8))
        assert m.GetSpacing() == hmap.GetSpacing()
    params = tmp_path / "small.yaml"
    params.write_text(yaml.safe_dump({
        "imageType": {"Original": {}},
        "featureClass": {"shape": ["VoxelVolume"], "firstorder": ["Mean"]},
        "setting": {"label": 1, "binWidth": 25},
    }))
    counts = {h: int(sitk.GetArrayViewFromImage(m).sum()) for h, m in masks.items()}
    cut = sorted(counts.values())[-1]  # only the largest habitat passes
    feats, skipped = habitat_radiomics(art, hmap, params, k=3, prefix="arterial_", min_voxels=cut)
    big = max(counts, key=counts.get)
    assert feats[f"arterial_habitat{big}_original_shape_VoxelVolume"] == pytest.approx(counts[big])
    assert len(feats) == 3 * 2
    for h in set(range(1, 4)) - {big}:
        assert h in skipped
        assert np.isnan(feats[f"arterial_habitat{h}_original_firstorder_Mean"])
