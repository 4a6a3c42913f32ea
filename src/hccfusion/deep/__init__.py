"""Deep-learning branch (seed 000, MMF): 3D CNN ensembles on multiphase tumour crops.

One concept per module:

* :mod:`~hccfusion.deep.crops` - tumour-centred, windowed crops of the resampled phases
  (:func:`tumour_crop`, :func:`patient_crops`, :func:`save_crop`, :func:`load_crop`);
* :mod:`~hccfusion.deep.model` - the small 3D CNN (:class:`CropNet`, :class:`Architecture`);
* :mod:`~hccfusion.deep.loss` - Cox partial likelihood (Breslow ties) and masked BCE;
* :mod:`~hccfusion.deep.train` - cross-fitted, seeded ensembles on training patients only
  (:func:`fit_ensemble`, :func:`predict_ensemble`);
* :mod:`~hccfusion.deep.gradcam` - Grad-CAM maps and their overlay figure;
* :mod:`~hccfusion.deep.weights` - weights files loaded without code execution;
* :mod:`~hccfusion.deep.synthetic` - crops with a planted prognostic property (tests, benchmarks).

Typical use by the workflow: per patient ``patient_crops`` -> ``save_crop``; per cohort
``load_crop`` of every patient -> ``fit_ensemble(crops, clinical, train_ids, endpoints=cfg
["endpoints"])`` -> write ``result.predictions`` (out-of-fold rows for training patients,
``full`` rows for internal/external) and ``save_weights(path, result.state_dicts, result.meta)``;
``hccfusion predict`` -> ``load_ensemble`` -> ``predict_ensemble``.

torch is imported by the modules that need it (the ``deep`` extra). The names below are loaded
lazily (PEP 562), so that ``hccfusion.deep.crops`` - one job per patient - does not pay for
importing torch (about 10 s per job on the project machine).
"""

import importlib

_WHERE = {
    **dict.fromkeys(["CropInfo", "crop_phase", "load_crop", "patient_crops",
                     "patient_crops_with_info", "save_crop", "tumour_crop"], "crops"),
    **dict.fromkeys(["grad_cam", "gradcam_overlay_png"], "gradcam"),
    **dict.fromkeys(["bce_loss", "cox_loss", "multitask_loss"], "loss"),
    **dict.fromkeys(["Architecture", "CropNet", "build_model"], "model"),
    **dict.fromkeys(["DEFAULT_ENDPOINTS", "DEFAULTS", "EnsembleResult", "fit_ensemble",
                     "predict_ensemble"], "train"),
    **dict.fromkeys(["WeightsFileError", "load_ensemble", "load_weights", "save_weights"],
                    "weights"),
}


def __getattr__(name):
    if name in _WHERE:
        return getattr(importlib.import_module(f"hccfusion.deep.{_WHERE[name]}"), name)
    raise AttributeError(f"module 'hccfusion.deep' has no attribute {name!r}")


__all__ = [
    "DEFAULTS",
    "DEFAULT_ENDPOINTS",
    "Architecture",
    "CropInfo",
    "CropNet",
    "EnsembleResult",
    "WeightsFileError",
    "bce_loss",
    "build_model",
    "cox_loss",
    "crop_phase",
    "fit_ensemble",
    "grad_cam",
    "gradcam_overlay_png",
    "load_crop",
    "load_ensemble",
    "load_weights",
    "multitask_loss",
    "patient_crops",
    "patient_crops_with_info",
    "predict_ensemble",
    "save_crop",
    "save_weights",
    "tumour_crop",
]
