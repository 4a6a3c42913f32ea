"""Rule deep_explain: Grad-CAM overlays of sampled patients per cohort, and the Spearman
correlation of the DL scores with the radiomics features on training patients."""

from pathlib import Path

import pandas as pd

from hccfusion import runlog
from hccfusion.deep.branch import gradcam_patients, radiomics_correlation
from hccfusion.deep.crops import load_crop
from hccfusion.deep.gradcam import grad_cam, gradcam_overlay_png
from hccfusion.deep.weights import load_ensemble

log = runlog.to_file(snakemake.log[0])
inp, out, cfg = snakemake.input, snakemake.output, snakemake.params.deep
split = pd.read_csv(inp.split, sep="\t", dtype={"patient_id": str})
deep = pd.read_csv(inp.deep, sep="\t", dtype={"patient_id": str})
radiomics = pd.read_csv(inp.radiomics, sep="\t", dtype={"patient_id": str})
train = sorted(set(split.patient_id[split.cohort == "train"]) & set(radiomics.patient_id))
table = radiomics_correlation(deep, radiomics, train)
table.to_csv(out.correlation, sep="\t", index=False, float_format="%.6g")
log.info("%d DL score x radiomics pairs kept (strongest first)", len(table))

figures = Path(out.figures)
figures.mkdir(parents=True, exist_ok=True)
models, _ = load_ensemble(inp.weights)
paths = {Path(p).stem: p for p in inp.crops if Path(p).stat().st_size}  # empty = excluded
endpoint = next(iter(snakemake.params.endpoints))
for cohort, patient in gradcam_patients(split, list(paths), cfg["gradcam_patients"], cfg["seed"]):
    crop, _ = load_crop(paths[patient])
    cam = grad_cam(models, crop, endpoint)
    gradcam_overlay_png(crop, cam, figures / f"gradcam_{cohort}_{patient}.png",
                        title=f"{cohort} {patient}: Grad-CAM of the {endpoint} head")
