"""Deep-learning branch (hccfusion.deep): crops, Cox loss, cross-fitted ensembles, Grad-CAM,
weights files.

The ensemble tests train on synthetic 16^3 crops (hccfusion.deep.synthetic) whose sphere radius
drives the simulated survival, with a small network on one thread, so the module runs in well
under a minute.
"""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pandas as pd
import pytest
import SimpleITK as sitk
import torch
from sksurv.metrics import concordance_index_censored

from hccfusion.deep import (
    Architecture,
    CropNet,
    bce_loss,
    cox_loss,
    crop_phase,
    fit_ensemble,
    grad_cam,
    gradcam_overlay_png,
    load_crop,
    load_ensemble,
    load_weights,
    patient_crops,
    patient_crops_with_info,
    predict_ensemble,
    save_crop,
    save_weights,
    tumour_crop,
)
from hccfusion.deep.synthetic import sphere_mask, synthetic_cohort
from hccfusion.deep.train import augment_batch
from hccfusion.deep.weights import WeightsFileError, sidecar_path
from hccfusion.errors import PatientInputError

torch.set_num_threads(1)

ENDPOINTS = {
    "os": {"type": "survival", "time": "os_days", "event": "os_event"},
    "response": {"type": "binary", "event": "response_3m"},
}
# 16^3 crops: full resolution in the first block (4^3 Grad-CAM layer), no dropout on an
# 8-unit embedding (with the default 0.2 the maps were more diffuse)
SMALL_NET = {"widths": [8, 16, 16], "stem_stride": 1, "embedding_dim": 8, "dropout": 0.0}
FIT = {"endpoints": ENDPOINTS, "n_models": 2, "folds": 3, "epochs": 15, "lr": 3e-3,
       "batch_size": 8, "seed": 1, "threads": 1, "architecture": SMALL_NET}
QUICK = {**FIT, "n_models": 1, "folds": 2, "epochs": 2, "min_epochs": 1}
N_TRAIN = 60


def cindex(frame: pd.DataFrame, score: str) -> float:
    return float(concordance_index_censored(frame["os_event"].astype(bool), frame["os_days"],
                                            frame[score])[0])


# --- crops ------------------------------------------------------------------------------------


def _write_pair(folder, name, img, msk):
    """Write an image and its mask as ``<name>_image.nii.gz`` / ``<name>_mask.nii.gz``."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = folder / f"{name}_image.nii.gz", folder / f"{name}_mask.nii.gz"
    sitk.WriteImage(img, str(paths[0]))
    sitk.WriteImage(msk, str(paths[1]))
    return paths


def write_case(folder, *, shape_xyz=(60, 60, 50), box=((20, 30), (25, 33), (15, 26)),
               hu=None, spacing=(1.0, 1.0, 1.0), origin=(0.0, 0.0, 0.0), mask_spacing=None,
               empty=False, name="case"):
    """An image (HU ramp along x unless ``hu`` given) and a box mask; ``box`` as (z, y, x)
    inclusive index ranges. Returns (image_path, mask_path)."""
    nx, ny, nz = shape_xyz
    if hu is None:
        arr = np.broadcast_to(np.linspace(-300, 500, nx, dtype=np.float32), (nz, ny, nx)).copy()
    else:
        arr = np.full((nz, ny, nx), hu, dtype=np.float32)
    m = np.zeros((nz, ny, nx), dtype=np.uint8)
    if not empty:
        (z0, z1), (y0, y1), (x0, x1) = box
        m[z0:z1 + 1, y0:y1 + 1, x0:x1 + 1] = 1
    img, msk = sitk.GetImageFromArray(arr), sitk.GetImageFromArray(m)
    img.SetSpacing(spacing)
    img.SetOrigin(origin)
    msk.SetSpacing(mask_spacing or spacing)
    msk.SetOrigin(origin)
    return _write_pair(folder, name, img, msk)


def test_crop_is_centred_on_mask_bounding_box_and_windowed(tmp_path):
    image, mask = write_case(tmp_path)
    crop, info = crop_phase(image, mask, (48, 48, 48), (-100, 240))
    assert crop.shape == (48, 48, 48) and crop.dtype == np.float32
    assert info.centre_index == (25, 29, 20)  # (z, y, x) bounding-box centres, floored
    assert info.size_vox == (48, 48, 48) and info.fraction_outside > 0
    # x index of crop column j is 20 - 24 + j; the ramp's HU there, windowed and scaled
    ramp = np.linspace(-300, 500, 60)
    for j in (0, 10, 24, 40):
        x = 20 - 24 + j
        if 0 <= x < 60:
            expected = (np.clip(ramp[x], -100, 240) + 100) / 340
            assert crop[24, 24, j] == pytest.approx(expected, abs=1e-5)
    assert crop.min() >= 0.0 and crop.max() <= 1.0
    assert np.array_equal(tumour_crop(image, mask), crop)


def test_crop_pads_with_window_minimum_and_reports_fraction_outside(tmp_path):
    # tumour at the x = 0 edge: columns x < 0 are outside; 48-voxel box centred on x = 3
    image, mask = write_case(tmp_path, hu=100.0, box=((20, 30), (20, 30), (0, 6)))
    crop, info = crop_phase(image, mask)
    outside_x = 24 - 3  # crop columns 0..20 map to x = -21..-1
    assert np.all(crop[:, :, :outside_x] == 0.0)
    assert np.allclose(crop[1:47, 1:47, outside_x:], (100 + 100) / 340)
    # z (1..48 of 0..49) and y (1..48 of 0..59) are inside; x keeps 48 - 21 = 27 columns
    assert info.fraction_outside == pytest.approx(1 - 27 / 48, abs=1e-6)
    assert info.tumour_fraction_inside == 1.0


def test_crop_is_independent_of_axis_direction(tmp_path):
    image, mask = write_case(tmp_path)
    ref = tumour_crop(image, mask)
    # the same physical volume stored with the x axis reversed (direction -1 along x)
    img, msk = sitk.ReadImage(str(image)), sitk.ReadImage(str(mask))
    flipped = []
    for im in (img, msk):
        a = sitk.GetArrayFromImage(im)[:, :, ::-1].copy()
        f = sitk.GetImageFromArray(a)
        f.SetSpacing(im.GetSpacing())
        f.SetDirection((-1, 0, 0, 0, 1, 0, 0, 0, 1))
        f.SetOrigin(im.TransformIndexToPhysicalPoint((im.GetSize()[0] - 1, 0, 0)))
        flipped.append(f)
    paths = [tmp_path / "flip_image.nii.gz", tmp_path / "flip_mask.nii.gz"]
    for f, p in zip(flipped, paths, strict=True):
        sitk.WriteImage(f, str(p))
    np.testing.assert_array_equal(tumour_crop(*paths), ref)


def test_crop_errors_name_file_and_problem(tmp_path):
    image, mask = write_case(tmp_path / "empty", empty=True)
    with pytest.raises(PatientInputError, match="mask is empty") as err:
        tumour_crop(image, mask, patient="P1", phase="arterial")
    assert str(mask) in str(err.value) and "patient P1, phase arterial" in str(err.value)

    image, mask = write_case(tmp_path / "grid", mask_spacing=(1.0, 1.0, 2.0))
    with pytest.raises(PatientInputError, match="not on the voxel grid") as err:
        tumour_crop(image, mask)
    assert str(mask) in str(err.value) and "spacing" in str(err.value)

    # small volume: the 48 mm box around the tumour is mostly outside
    image, mask = write_case(tmp_path / "edge", shape_xyz=(30, 30, 20),
                             box=((2, 5), (2, 5), (2, 5)))
    with pytest.raises(PatientInputError, match="leaves the image volume") as err:
        tumour_crop(image, mask, max_outside=0.5)
    assert str(image) in str(err.value) and "max_outside = 50%" in str(err.value)
    crop, info = crop_phase(image, mask, max_outside=1.0)
    assert info.fraction_outside > 0.5 and crop.shape == (48, 48, 48)

    with pytest.raises(PatientInputError, match="does not exist") as err:
        tumour_crop(tmp_path / "nope.nii.gz", mask)
    assert "nope.nii.gz" in str(err.value)


def test_patient_crops_stack_phases_and_name_a_missing_phase(tmp_path):
    art = write_case(tmp_path, name="art")
    ven = write_case(tmp_path, name="ven", hu=50.0)
    stack, infos = patient_crops_with_info({"venous": ven, "arterial": art},
                                           phases=["arterial", "venous"], patient="P7")
    assert stack.shape == (2, 48, 48, 48)
    assert [i.phase for i in infos] == ["arterial", "venous"]
    assert np.allclose(stack[1, 10:40, 10:40, 10:40], 150 / 340)
    with pytest.raises(PatientInputError, match="phase 'venous' is missing") as err:
        patient_crops({"arterial": art}, phases=["arterial", "venous"], patient="P7")
    assert "patient P7, phase venous" in str(err.value)

    path = save_crop(tmp_path / "crops" / "P7.npz", stack, infos, patient="P7")
    loaded, meta = load_crop(path)
    np.testing.assert_array_equal(loaded, stack)
    assert meta["patient"] == "P7" and meta["phases"] == ["arterial", "venous"]
    first = meta["crops"][0]
    assert first["size_mm"] == [48.0, 48.0, 48.0] and first["window"] == [-100.0, 240.0]
    assert first["centre_index"] == [25, 29, 20] and first["fraction_outside"] > 0
    (tmp_path / "bad.npz").write_bytes(b"not a zip")
    with pytest.raises(PatientInputError, match="bad.npz"):
        load_crop(tmp_path / "bad.npz")


# --- Cox loss -----------------------------------------------------------------------------------


def test_cox_loss_matches_hand_formula_with_ties():
    # times 1, 2, 2, 3 (events at 1, both 2s), risks r; Breslow: both tied events share the
    # risk set {t >= 2}
    r = torch.tensor([0.5, -0.2, 1.0, 0.3], dtype=torch.float64)
    t = torch.tensor([1.0, 2.0, 2.0, 3.0], dtype=torch.float64)
    e = torch.tensor([1.0, 1.0, 1.0, 0.0], dtype=torch.float64)
    ex = torch.exp(r)
    ll = (r[0] - torch.log(ex.sum())) + (r[1] - torch.log(ex[1:].sum())) \
        + (r[2] - torch.log(ex[1:].sum()))
    assert float(cox_loss(r, t, e)) == pytest.approx(float(-ll / 3), rel=1e-12)
    # order of the patients does not matter
    perm = torch.tensor([3, 1, 0, 2])
    assert float(cox_loss(r[perm], t[perm], e[perm])) == pytest.approx(float(-ll / 3), rel=1e-12)


def test_cox_loss_matches_lifelines_partial_likelihood():
    from lifelines import CoxPHFitter

    rng = np.random.default_rng(0)
    n = 60
    x = rng.normal(size=(n, 2))
    t = rng.exponential(1 / np.exp(0.8 * x[:, 0] - 0.5 * x[:, 1])) + rng.uniform(0, 1e-3, n)
    e = (rng.uniform(size=n) < 0.7).astype(float)  # distinct times: Efron = Breslow
    df = pd.DataFrame({"x0": x[:, 0], "x1": x[:, 1], "t": t, "e": e})
    cph = CoxPHFitter(penalizer=0.0).fit(df, "t", "e")
    beta = cph.params_[["x0", "x1"]].to_numpy()
    risk = torch.as_tensor(x @ beta)
    loss = cox_loss(risk, torch.as_tensor(t), torch.as_tensor(e))
    assert -float(loss) * e.sum() == pytest.approx(cph.log_likelihood_, rel=1e-6)


def test_cox_loss_breslow_ties_against_sksurv_and_package_reference():
    from sksurv.linear_model import CoxPHSurvivalAnalysis
    from sksurv.util import Surv

    from hccfusion.models.breslow import cox_partial_loglik

    rng = np.random.default_rng(1)
    n = 80
    z = rng.normal(size=n)
    t = np.ceil(rng.exponential(3 / np.exp(0.7 * z)))  # integer times: many ties
    e = rng.uniform(size=n) < 0.75
    assert len(np.unique(t[e])) < e.sum()  # there are tied event times
    fit = CoxPHSurvivalAnalysis(alpha=0.0, ties="breslow").fit(z[:, None], Surv.from_arrays(e, t))
    beta = torch.tensor(float(fit.coef_[0]), dtype=torch.float64, requires_grad=True)
    loss = cox_loss(beta * torch.as_tensor(z), torch.as_tensor(t), torch.as_tensor(e * 1.0))
    grad, = torch.autograd.grad(loss, beta)
    assert abs(float(grad)) < 1e-6  # sksurv's Breslow MLE is the loss's minimum
    ref = cox_partial_loglik(z, e, t, float(fit.coef_[0]))
    assert -float(loss.detach()) * e.sum() == pytest.approx(ref, rel=1e-10)
    # and the minimum is not the Efron one
    efron = CoxPHSurvivalAnalysis(alpha=0.0, ties="efron").fit(z[:, None], Surv.from_arrays(e, t))
    assert abs(float(efron.coef_[0]) - float(fit.coef_[0])) > 1e-4


def test_losses_mask_patients_without_the_endpoint():
    rng = np.random.default_rng(2)
    r = torch.as_tensor(rng.normal(size=20))
    t = torch.as_tensor(rng.exponential(size=20))
    e = torch.as_tensor((rng.uniform(size=20) < 0.6) * 1.0)
    t_nan = t.clone()
    t_nan[[1, 5, 7]] = float("nan")
    keep = torch.isfinite(t_nan)
    assert float(cox_loss(r, t_nan, e)) == pytest.approx(float(cox_loss(r[keep], t[keep],
                                                                        e[keep])))
    r_grad = r.clone().requires_grad_(True)
    none = cox_loss(r_grad, t, torch.zeros(20))
    assert float(none.detach()) == 0.0
    none.backward()
    assert torch.equal(r_grad.grad, torch.zeros(20, dtype=r.dtype))
    y = torch.as_tensor((rng.uniform(size=20) < 0.5) * 1.0)
    y_nan = y.clone()
    y_nan[[0, 3]] = float("nan")
    keep = torch.isfinite(y_nan)
    from sklearn.metrics import log_loss

    expected = log_loss(y[keep].numpy(), torch.sigmoid(r[keep]).numpy())
    assert float(bce_loss(r, y_nan)) == pytest.approx(expected, rel=1e-9)


# --- model ---------------------------------------------------------------------------------------


def test_model_outputs_and_default_architecture_shapes():
    arch = Architecture()
    net = CropNet(arch).eval()
    with torch.no_grad():
        out = net(torch.rand(3, 2, 48, 48, 48))
        feats = net.conv_features(torch.rand(1, 2, 48, 48, 48))
    assert out["risk"].shape == (3, 2) and out["logit"].shape == (3, 1)
    assert out["embedding"].shape == (3, arch.embedding_dim)
    assert feats.shape == (1, arch.widths[-1], 6, 6, 6)
    assert sum(p.numel() for p in net.parameters()) < 200_000
    assert net.head_index("pfs") == ("risk", 1) and net.head_index("response") == ("logit", 0)
    with pytest.raises(KeyError, match="no head"):
        net.head_index("dfs")


def test_augment_batch_is_seeded_flips_and_shifts():
    x = torch.rand(4, 2, 8, 8, 8)
    a = augment_batch(x, torch.Generator().manual_seed(3), max_shift=2)
    b = augment_batch(x, torch.Generator().manual_seed(3), max_shift=2)
    assert a.shape == x.shape and torch.equal(a, b)
    assert not torch.equal(a, x)
    same = augment_batch(x, torch.Generator().manual_seed(3), max_shift=0)
    for i in range(4):  # without shifts every crop is a flip of its input: same values
        assert torch.equal(torch.sort(same[i].flatten()).values, torch.sort(x[i].flatten()).values)


# --- ensembles -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def cohort():
    crops, table = synthetic_cohort(100, size=(16, 16, 16), phases=2, seed=3, effect=2.0)
    return crops, table, list(table["patient_id"][:N_TRAIN])


@pytest.fixture(scope="module")
def fitted(cohort):
    crops, table, train = cohort
    return fit_ensemble(crops, table, train, **FIT)


def test_ensemble_learns_planted_property(fitted, cohort):
    crops, table, train = cohort
    pred = fitted.predictions
    expected = ["patient_id", "fold", "risk_os", "prob_response"] + [f"emb_{j}" for j in range(8)]
    assert list(pred.columns) == expected
    assert list(pred["patient_id"]) == list(table["patient_id"])  # training first, then others
    oof = pred[pred["patient_id"].isin(train)]
    held = pred[~pred["patient_id"].isin(train)]
    assert set(oof["fold"]) == {"1", "2", "3"} and set(held["fold"]) == {"full"}
    assert sorted(fitted.state_dicts) == ["fold1", "fold2", "fold3", "full"]
    assert all(len(v) == 2 for v in fitted.state_dicts.values())
    assert np.all((pred["prob_response"] > 0) & (pred["prob_response"] < 1))
    both = pred.merge(table, on="patient_id")
    c_oof = cindex(both[both["fold"] != "full"], "risk_os")
    c_held = cindex(both[both["fold"] == "full"], "risk_os")
    print(f"C-index OS: out-of-fold {c_oof:.3f}, held-out {c_held:.3f}")
    assert c_oof > 0.7 and c_held > 0.7
    # every network's inner validation split came from its own training patients
    for net in fitted.meta["networks"]:
        assert net["n_fit"] + net["n_val"] == (N_TRAIN if net["network"].startswith("full")
                                               else 40)
        assert net["best_epoch"] >= 5  # min_epochs


def test_fit_is_deterministic_and_ignores_held_out_outcomes(cohort):
    crops, table, train = cohort
    a = fit_ensemble(crops, table, train, **QUICK)
    b = fit_ensemble(crops, table, train, **QUICK)
    pd.testing.assert_frame_equal(a.predictions, b.predictions, check_exact=True)
    altered = table.copy()
    held = ~altered["patient_id"].isin(train)
    altered.loc[held, ["os_days", "os_event", "response_3m"]] = [[1.0, 1, 1]] * int(held.sum())
    altered.loc[altered.index[held][:5], "os_days"] = np.nan
    c = fit_ensemble(crops, altered, train, **QUICK)
    pd.testing.assert_frame_equal(a.predictions, c.predictions, check_exact=True)
    for group, members in a.state_dicts.items():
        for s_a, s_c in zip(members, c.state_dicts[group], strict=True):
            assert all(torch.equal(s_a[k], s_c[k]) for k in s_a)


def test_held_out_crops_do_not_change_training(cohort):
    crops, table, train = cohort
    a = fit_ensemble(crops, table, train, **QUICK)
    noisy = {pid: (np.random.default_rng(0).uniform(size=c.shape).astype(np.float32)
                   if pid not in train else c) for pid, c in crops.items()}
    b = fit_ensemble(noisy, table, train, **QUICK)
    rows_a = a.predictions[a.predictions["fold"] != "full"]
    rows_b = b.predictions[b.predictions["fold"] != "full"]
    pd.testing.assert_frame_equal(rows_a, rows_b, check_exact=True)
    for group, members in a.state_dicts.items():
        for s_a, s_b in zip(members, b.state_dicts[group], strict=True):
            assert all(torch.equal(s_a[k], s_b[k]) for k in s_a)


def test_fit_restores_global_torch_state_and_checks_inputs(cohort):
    crops, table, train = cohort
    torch.use_deterministic_algorithms(False)
    state = torch.get_rng_state()
    fit_ensemble(crops, table, train, **{**QUICK, "threads": 2})
    assert not torch.are_deterministic_algorithms_enabled()
    assert torch.get_num_threads() == 1
    assert torch.equal(torch.get_rng_state(), state)
    with pytest.raises(ValueError, match="no crop for training patients P0000"):
        fit_ensemble({k: v for k, v in crops.items() if k != "P0000"}, table, train, **QUICK)
    no_events = table.assign(os_event=0)
    with pytest.raises(ValueError, match="fewer than 2 events"):
        fit_ensemble(crops, no_events, train, **QUICK)
    with pytest.raises(ValueError, match="no column 'os_time'"):
        fit_ensemble(crops, table, train, **{**QUICK, "endpoints": {
            "os": {"type": "survival", "time": "os_time", "event": "os_event"}}})


# --- Grad-CAM ------------------------------------------------------------------------------------


def test_gradcam_has_crop_shape_and_concentrates_on_the_sphere(fitted, cohort, tmp_path):
    crops, table, train = cohort
    held = table[~table["patient_id"].isin(train)]
    large = held.sort_values("radius").tail(8)  # the planted high-risk patients
    models = fitted.models("full")
    ratios = []
    for row in large.itertuples():
        cam = grad_cam(models, crops[row.patient_id], "os")
        assert cam.shape == crops[row.patient_id].shape[1:]
        assert np.all(cam >= 0) and cam.max() > 0
        ball = sphere_mask(cam.shape, (row.centre_z, row.centre_y, row.centre_x), row.radius)
        # mass per voxel on the sphere against mass per voxel of the background
        ratios.append(cam[ball].mean() / cam[~ball].mean())
    print("Grad-CAM density on the sphere / background:", np.round(ratios, 2))
    assert np.median(ratios) > 1.5 and min(ratios) > 1.0
    pid = large["patient_id"].iloc[-1]
    png = gradcam_overlay_png(crops[pid], grad_cam(models[0], crops[pid], "response"),
                              tmp_path / "cam.png", title=pid)
    import matplotlib.image as mpimg

    img = mpimg.imread(png)
    assert img.ndim == 3 and img.shape[0] > 100 and img[..., :3].std() > 0.05


# --- weights ---------------------------------------------------------------------------------


def test_weights_round_trip_and_score_new_patients(fitted, cohort, tmp_path):
    crops, table, train = cohort
    path = tmp_path / "deep.pt"
    side = save_weights(path, fitted.state_dicts, fitted.meta)
    assert side["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert json.loads(sidecar_path(path).read_text())["sha256"] == side["sha256"]
    groups, meta = load_weights(path)
    assert meta["sha256"] == side["sha256"] and meta["architecture"] == fitted.meta["architecture"]
    for k, v in fitted.state_dicts["full"][0].items():
        assert torch.equal(groups["full"][0][k], v)
    models, _ = load_ensemble(path)
    held = [p for p in crops if p not in train]
    again = predict_ensemble(models, crops, held, threads=1)
    expected = fitted.predictions.set_index("patient_id").loc[held].reset_index()
    pd.testing.assert_frame_equal(again, expected, check_exact=True)


def test_tampered_weights_are_refused(fitted, tmp_path):
    path = tmp_path / "deep.pt"
    save_weights(path, fitted.state_dicts["full"], {"architecture": fitted.meta["architecture"]})
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(WeightsFileError, match="SHA-256 .* differs"):
        load_weights(path)

    marker = tmp_path / "executed"

    class Payload:
        def __reduce__(self):
            return (exec, (f"open({str(marker)!r}, 'w').write('pwned')",))

    evil = tmp_path / "evil.pt"
    torch.save({"format": "hccfusion-deep-weights", "format_version": 1, "meta": "{}",
                "state_dicts": {"full": [{"w": torch.zeros(1)}]}, "x": Payload()}, evil)
    # the attacker also rewrites the sidecar's hash: the restricted unpickler still refuses
    sidecar_path(evil).write_text(json.dumps(
        {"sha256": hashlib.sha256(evil.read_bytes()).hexdigest()}))
    with pytest.raises(WeightsFileError, match="refused") as err:
        load_weights(evil)
    assert str(evil) in str(err.value)
    assert not marker.exists()
    with pytest.raises(WeightsFileError, match="no SHA-256"):
        load_weights(evil.rename(tmp_path / "bare.pt"))


def _sphere_case(folder, spacing_xyz, name):
    """A 20 mm bright sphere (200 HU in 0 HU) at the centre of a 100 mm cube, sampled at
    ``spacing_xyz``; returns (image_path, mask_path)."""
    n = [int(round(100 / s)) for s in spacing_xyz]  # x, y, z
    zz, yy, xx = np.meshgrid(*[(np.arange(k) + 0.5) * s - 50 for k, s in
                               zip(n[::-1], spacing_xyz[::-1], strict=True)], indexing="ij")
    inside = (xx ** 2 + yy ** 2 + zz ** 2) <= 10 ** 2
    img = sitk.GetImageFromArray(np.where(inside, 200.0, 0.0).astype(np.float32))
    msk = sitk.GetImageFromArray(inside.astype(np.uint8))
    for im in (img, msk):
        im.SetSpacing(spacing_xyz)
    return _write_pair(folder, name, img, msk)


def test_crops_of_different_spacings_share_shape_and_scale(tmp_path):
    """Thick-slice and fine scans give crops of one shape on the 1 mm grid, with the tumour the
    same physical size: the network sees millimetres, not voxels."""
    iso = crop_phase(*_sphere_case(tmp_path, (1.0, 1.0, 1.0), "iso"), (40, 40, 40), (-100, 240))
    thick = crop_phase(*_sphere_case(tmp_path, (0.7, 0.7, 2.5), "thick"), (40, 40, 40),
                       (-100, 240))
    assert iso[0].shape == thick[0].shape == (40, 40, 40)
    assert thick[1].spacing_mm == (1.0, 1.0, 1.0) and thick[1].fraction_outside == 0
    bright = [(c > 0.5).sum() for c in (iso[0], thick[0])]
    # A 20 mm sphere is ~4,189 mm^3; partial volumes of the thick slices blur its edge.
    assert all(3500 < b < 4900 for b in bright), bright
    assert abs(bright[0] - bright[1]) / bright[0] < 0.1
    assert thick[1].tumour_fraction_inside == pytest.approx(1.0, abs=0.02)
