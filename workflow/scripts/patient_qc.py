"""Rule patient_qc: the phases' masks agree, and a PNG of them over the tumour slices."""

import json

import SimpleITK as sitk
from matplotlib import pyplot as plt

from hccfusion import runlog
from hccfusion.imaging.steps import excluded, guarded, phase_check
from hccfusion.qc import overlay_png

log = runlog.to_file(snakemake.log[0])
wc, inp, out, phases = snakemake.wildcards, snakemake.input, snakemake.output, snakemake.params.phases
record = {"patient": wc.patient}
upstream = excluded(*inp.status)
if upstream:
    # The phase whose scan failed travels on, so that the exclusion is reported against it.
    result = {**record, "status": "excluded", "reason": upstream["reason"],
              "phase": upstream.get("phase")}
elif len(phases) < 2:
    result = {**record, "status": "ok"}
else:
    masks = dict(zip(phases, inp.masks, strict=True))
    result = guarded(lambda: phase_check(masks, patient=wc.patient),
                     on_error=snakemake.params.on_error, outputs=[], record=record)
with open(out.status, "w") as fh:
    json.dump(result, fh, indent=1, default=str)

if upstream:
    # An excluded patient gets a card saying why, so the QC folder lists everyone.
    fig = plt.figure(figsize=(6, 1.5))
    fig.text(0.02, 0.5, f"{wc.patient}: excluded\n{upstream['reason']}", va="center", wrap=True)
    fig.savefig(out.png, dpi=80)
else:
    scans = {
        phase: (sitk.ReadImage(img), sitk.ReadImage(msk))
        for phase, img, msk in zip(phases, inp.images, inp.masks, strict=True)
    }
    overlay_png(scans, out.png, title=wc.patient)
