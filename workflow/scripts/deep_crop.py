"""Rule deep_crop: one patient's tumour-centred multiphase crop for the deep-learning branch."""

import json

from hccfusion import runlog
from hccfusion.deep.crops import patient_crops_with_info, save_crop
from hccfusion.errors import PatientInputError
from hccfusion.imaging.steps import excluded

log = runlog.to_file(snakemake.log[0])
wc, inp, out, par = snakemake.wildcards, snakemake.input, snakemake.output, snakemake.params
cfg = par.deep
status = {"patient_id": wc.patient, "status": "ok", "reason": ""}
upstream = excluded(inp.status)
if upstream:
    status.update(status="excluded", reason=upstream["reason"])
else:
    try:
        crop, infos = patient_crops_with_info(
            {ph: (im, ma) for ph, im, ma in zip(par.phases, inp.images, inp.masks, strict=True)},
            par.phases, cfg["crop_mm"], cfg["window"], max_outside=cfg["max_outside"],
            patient=wc.patient)
    except PatientInputError as exc:
        if par.on_error != "exclude":
            raise
        log.warning("excluded: %s", exc)
        status.update(status="excluded", reason=f"deep-learning crop: {exc.reason}")
    else:
        save_crop(out.crop, crop, infos, patient=wc.patient)
        log.info("crop %s, outside the volume %s", crop.shape,
                 [round(i.fraction_outside, 3) for i in infos])
if status["status"] != "ok":
    open(out.crop, "wb").close()  # downstream reads the status first
with open(out.status, "w") as fh:
    json.dump(status, fh)
