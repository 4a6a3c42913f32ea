"""Rule checklist: CLEAR and TRIPOD+AI items filled from this run's provenance."""

from hccfusion import runlog
from hccfusion.checklist import fill_checklist, imaging_protocol, load_provenance, to_markdown

log = runlog.to_file(snakemake.log[0])
inp, cfg = snakemake.input, snakemake.config
qc = inp.imaging_qc[0] if inp.imaging_qc else None
prov = load_provenance(
    cfg, splits=inp.split, excluded=inp.excluded, imaging_qc=qc,
    robustness=inp.robustness[0] if inp.robustness else None, radiomics_params=inp.params,
    radiomics=inp.features, manifests=inp.models, algorithms=inp.algorithms,
    performance=inp.performance, calibration=inp.calibration, clinical=inp.clinical)
items = fill_checklist(prov)
protocol = imaging_protocol(prov.imaging_qc, prov.splits) if prov.imaging_qc is not None else None
with open(snakemake.output[0], "w") as fh:
    fh.write(to_markdown(items, protocol))
log.info("%d of %d items filled from the run", sum(i.filled for i in items), len(items))
