"""Time of the workflow's extraction against a bare PyRadiomics call with the same parameter file.

The workflow (``hccfusion.radiomics.extract`` with the default config's preparation: crop,
B-spline image and label-safe mask resampling to 1 mm done by hccfusion, PyRadiomics' own
resampling off) against ``RadiomicsFeatureExtractor(prime_ct.yaml).execute(image, mask)`` (which
resamples itself) on the real CT STS_001. CPU time, median of interleaved repeats.

    .venv/bin/python benchmarks/extraction_overhead.py [../shared/data/real_ct/sts_ct/STS_001] [repeats]
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

import SimpleITK as sitk
from radiomics.featureextractor import RadiomicsFeatureExtractor

from hccfusion.config import validate_config
from hccfusion.radiomics import DEFAULT_PARAMS, extract, workflow_options

REPO = Path(__file__).resolve().parents[1]
CASE = Path(sys.argv[1]) if len(sys.argv) > 1 else REPO.parent / "shared/data/real_ct/sts_ct/STS_001"
REPEATS = int(sys.argv[2]) if len(sys.argv) > 2 else 3


def cpu(fn) -> float:
    start = time.process_time()
    fn()
    return time.process_time() - start


def main() -> None:
    image = sitk.ReadImage(str(CASE / "CT_image.nii.gz"))
    mask = sitk.ReadImage(str(next(CASE.glob("*mask*.nii.gz"))))
    options = workflow_options(validate_config({}))
    bare = RadiomicsFeatureExtractor(str(DEFAULT_PARAMS))
    ours, theirs = [], []
    for _ in range(REPEATS):
        theirs.append(cpu(lambda: bare.execute(image, mask)))
        ours.append(cpu(lambda: extract(image, mask, DEFAULT_PARAMS, **options)))
    a, b = statistics.median(ours), statistics.median(theirs)
    print(f"mask voxels {int(sitk.GetArrayViewFromImage(mask).sum())}")
    print(f"workflow extract {a:.2f} s, bare PyRadiomics {b:.2f} s CPU (median of {REPEATS}): "
          f"overhead {100 * (a / b - 1):+.1f} %")


if __name__ == "__main__":
    main()
