"""The per-patient imaging steps as the workflow runs them, one function per rule.

Each step reads the previous step's files, does one thing, writes NIfTI without header metadata
and returns a JSON-ready record. Errors are :class:`~hccfusion.errors.PatientInputError` naming
patient, phase and file; :func:`guarded` turns them into an ``excluded`` record when the config
says ``on_patient_error: exclude``, so that one bad scan never stops the others.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from pathlib import Path

import SimpleITK as sitk

from hccfusion.errors import PatientInputError
from hccfusion.imaging.ingest import (
    acquisition_info,
    read_image,
    read_mask,
    write_deidentified,
)
from hccfusion.imaging.preprocess import check_mask, check_phase_agreement
from hccfusion.qc import mask_stats

log = logging.getLogger(__name__)


def read_status(path) -> dict:
    with open(path) as fh:
        return json.load(fh)


def excluded(*status_paths) -> dict | None:
    """The first upstream record that excluded the patient, if any."""
    for path in status_paths:
        record = read_status(path)
        if record.get("status") == "excluded":
            return record
    return None


def guarded(step: Callable[[], dict], *, on_error: str, outputs: list, record: dict) -> dict:
    """Run ``step``; under ``exclude`` an input error becomes an ``excluded`` record.

    The step's file outputs are then left empty: every downstream step reads the status first.
    """
    try:
        result = step()
        return {**record, **result, "status": "ok"}
    except PatientInputError as exc:
        if on_error != "exclude":
            raise
        log.warning("excluded: %s", exc)
        for path in outputs:
            Path(path).write_bytes(b"")
        return {**record, "status": "excluded", "reason": exc.reason}


def prepare_scan(image_path, out_image, out_mask, *, patient, phase, method="provided",
                 mask_path=None, series=None, boxes=None, checkpoint=None,
                 components="merged", min_voxels=20) -> dict:
    """One scan, ready for features: read and check it, obtain and check its tumour mask.

    The scan (DICOM series, NIfTI, NRRD) is read with its slice checks and written de-identified;
    the mask comes from the configured ``method``: ``provided`` (the sheet's mask, geometry
    checked against the scan), ``box`` (SimpleITK segmentation inside the box prompts) or
    ``medsam`` (the MedSAM model). The mask then passes the size, border and components checks.
    When a provided mask exists beside another method, Dice and HD95 against it are recorded.
    """
    image = read_image(image_path, series=series, patient=patient, phase=phase)
    record = {
        "size": [int(s) for s in image.GetSize()],
        "spacing_mm": [float(s) for s in image.GetSpacing()],
        "acquisition": acquisition_info(image_path, series=series, patient=patient, phase=phase),
        "method": method,
    }
    provided = read_mask(mask_path, image, patient=patient, phase=phase) if mask_path else None
    if method == "provided":
        if provided is None:
            raise PatientInputError("no mask given for segmentation method 'provided'",
                                    patient=patient, phase=phase, path=image_path)
        mask = provided
    elif method == "box":
        from hccfusion.imaging.segment import segment_box

        mask = segment_box(image, boxes, patient=patient, phase=phase)
    elif method == "medsam":
        from hccfusion.imaging.medsam import load_medsam, segment_medsam

        mask = segment_medsam(image, boxes, load_medsam(checkpoint))
    else:
        raise ValueError(f"unknown segmentation method {method!r}")
    mask, info = check_mask(mask, image, min_voxels=min_voxels, components=components,
                            patient=patient, phase=phase, path=mask_path or image_path)
    record.update(info)
    record.update(mask_stats(image, mask))
    if provided is not None and method != "provided":
        from hccfusion.imaging.segment import dice, hd95

        record.update(dice_vs_provided=dice(mask, provided), hd95_vs_provided=hd95(mask, provided))
    write_deidentified(image, out_image)
    write_deidentified(mask, out_mask)
    return record


def phase_check(masks: dict, *, patient) -> dict:
    """Arterial and venous masks must outline the same tumour (gross errors only)."""
    (pa, a), (pb, b) = list(masks.items())[:2]
    return check_phase_agreement(
        sitk.ReadImage(str(a)), sitk.ReadImage(str(b)), patient=patient, phases=(pa, pb)
    )
