"""Synthetic demo cohort of unresectable HCC: dual-phase CT (DICOM), masks, clinical data,
outcomes with known truth, and a matched RNA-seq cohort with planted pathway signals.

Layout written by :func:`generate_demo` (paths in the sheets are relative to the sheet)::

    patients.tsv   patient_id, center, arterial_image, arterial_mask, venous_image,
                   venous_mask, box_prompt
    clinical.tsv   patient_id + clinical variables + outcomes
    truth.tsv      patient_id, true_response_prob, true_os_lp, true_pfs_lp
    README.md      the cohort and its outcome model
    images/<patient_id>/<arterial|venous>/IM00001.dcm ...
    masks/<patient_id>_<phase>.nii.gz  (about 1 in 4 patients: .seg.nrrd, 3D Slicer style)
    expression/    counts.tsv, samples.tsv, patients.tsv, clinical.tsv, truth.tsv,
                   planted_pathways.tsv, planted_immune.tsv, images/, masks/

Public API: :func:`generate_demo` and the scale presets :data:`SCALES`.
"""

from .generate import generate_demo
from .scales import SCALES, Scale

__all__ = ["SCALES", "Scale", "generate_demo"]
