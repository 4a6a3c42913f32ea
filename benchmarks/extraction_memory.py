"""Peak memory and time of one ingest + radiomics job on a 512 x 512 x 200 CT.

The volume is the real PyRadiomics `lung1` CT (512 x 512 x 48, 5 mm slices) resampled along z to
200 slices (1.2 mm), with its tumour label, written as NIfTI. Each step runs in a fresh process
exactly as the workflow's scripts call it; peak RSS comes from getrusage of that child.

    .venv/bin/python benchmarks/extraction_memory.py [../shared/data/real_ct/pyradiomics_cases]
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

import SimpleITK as sitk

REPO = Path(__file__).resolve().parents[1]
CASES = Path(sys.argv[1]) if len(sys.argv) > 1 else REPO.parent / "shared/data/real_ct/pyradiomics_cases"


def make_volume(out: Path) -> tuple[Path, Path]:
    image = sitk.ReadImage(str(CASES / "lung1_image.nrrd"))
    label = sitk.ReadImage(str(CASES / "lung1_label.nrrd"))
    size = list(image.GetSize())
    spacing = list(image.GetSpacing())
    new_z = 200
    spacing[2] = spacing[2] * size[2] / new_z
    size[2] = new_z
    res = sitk.ResampleImageFilter()
    res.SetSize(size)
    res.SetOutputSpacing(spacing)
    res.SetOutputOrigin(image.GetOrigin())
    res.SetOutputDirection(image.GetDirection())
    res.SetInterpolator(sitk.sitkLinear)
    big = sitk.Cast(res.Execute(image), sitk.sitkInt16)
    res.SetInterpolator(sitk.sitkNearestNeighbor)
    mask = res.Execute(label)
    img_path, mask_path = out / "ct.nii.gz", out / "mask.nii.gz"
    sitk.WriteImage(big, str(img_path))
    sitk.WriteImage(mask, str(mask_path))
    return img_path, mask_path


def run(code: str) -> tuple[float, float]:
    """Wall seconds and peak RSS (MB) of a fresh Python process running ``code`` (GNU time)."""
    proc = subprocess.run(["/usr/bin/time", "-f", "%e %M", sys.executable, "-c", code],
                          check=True, capture_output=True, text=True)
    print(proc.stdout.strip())
    seconds, kb = proc.stderr.strip().splitlines()[-1].split()
    return float(seconds), float(kb) / 1024


def main() -> None:
    params = REPO / "resources/radiomics/prime_ct.yaml"
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        img, msk = make_volume(tmp)
        print(f"volume {sitk.ReadImage(str(img)).GetSize()}, mask voxels "
              f"{int(sitk.GetArrayFromImage(sitk.ReadImage(str(msk))).sum())}")
        ingest = (
            "from hccfusion.imaging.steps import prepare_scan;"
            f"prepare_scan('{img}', '{tmp}/i.nii.gz', '{tmp}/m.nii.gz', patient='P', "
            f"phase='arterial', mask_path='{msk}')"
        )
        t, mb = run(ingest)
        print(f"ingest job (read, checks, de-identified write): {t:.1f} s, peak RSS {mb:.0f} MB")
        extract = (
            "from hccfusion.config import validate_config;"
            "from hccfusion.radiomics import extract, workflow_options;"
            f"f = extract('{tmp}/i.nii.gz', '{tmp}/m.nii.gz', '{params}', prefix='arterial_',"
            " **workflow_options(validate_config({})));"
            "print(len(f), 'features')"
        )
        t, mb = run(extract)
        print(f"radiomics job (prime_ct.yaml): {t:.1f} s, peak RSS {mb:.0f} MB")


if __name__ == "__main__":
    main()
