"""The ``hccfusion`` command line: demo, extract, predict, validate-config.

Heavy libraries are imported inside each command so that ``hccfusion --help`` stays fast.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from hccfusion import __version__
from hccfusion.errors import HccfusionError, TableError


def _cmd_demo(args) -> int:
    from hccfusion.demo import generate_demo

    summary = generate_demo(Path(args.out), seed=args.seed, scale=args.scale, images=not args.no_images)
    for key, value in summary.items():
        print(f"{key}\t{value}")
    return 0


def _cmd_extract(args) -> int:
    from hccfusion.config import load_config, validate_config
    from hccfusion.imaging.ingest import read_image, read_mask
    from hccfusion.imaging.preprocess import check_mask
    from hccfusion.radiomics import PARAMS_DIR, extract, workflow_options

    # The same path as the workflow: ingest's reader and mask checks, the config's preparation
    # (resampling, normalisation, components), then PyRadiomics with its parameter file.
    config = load_config(args.config) if args.config else validate_config({})
    if args.params:
        params = Path(args.params)
    else:
        params = Path(config["radiomics"]["params"])
        if not params.is_absolute() and not params.exists():
            params = PARAMS_DIR.parents[1] / params  # shipped with the workflow
    options = workflow_options(config)
    if args.no_preprocessing:
        options["preprocessing"] = None
    seg = config["segmentation"]
    image = read_image(args.image, series=args.series)
    mask = read_mask(args.mask, image)
    mask, _ = check_mask(mask, image, min_voxels=seg["min_voxels"], components=seg["components"],
                         path=args.mask)
    features = extract(image, mask, params, prefix=args.prefix, **options)
    frame = features.to_frame(name="value")
    frame.index.name = "feature"
    if args.out == "-":
        frame.to_csv(sys.stdout, sep="\t")
    else:
        frame.to_csv(args.out, sep="\t")
    return 0


def _cmd_predict(args) -> int:
    from hccfusion.persist import load_models, predict, read_table

    models = load_models(args.models, allow_version_mismatch=args.allow_version_mismatch)
    table = predict(models, read_table(args.features, "features"),
                    read_table(args.clinical, "clinical"))
    if args.out == "-":
        table.to_csv(sys.stdout, sep="\t", index=False, float_format="%.8g")
    else:
        table.to_csv(args.out, sep="\t", index=False, float_format="%.8g")
    print(f"{table['patient_id'].nunique()} patients x {len(models.entries)} models -> {args.out}",
          file=sys.stderr)
    return 0


def _cmd_validate(args) -> int:
    from hccfusion.config import load_config
    from hccfusion.sheets import (
        check_clinical_columns,
        check_same_patients,
        load_clinical,
        load_patients,
        missing_input,
        scan_kinds,
    )

    config = load_config(args.config)
    print(f"config {args.config}: valid")
    sheet, clinical = Path(config["patients"]), Path(config["clinical"])
    if config["feature_table"]:
        from hccfusion.feature_table import load_user_table

        table = load_clinical(clinical)
        check_clinical_columns(table, config["endpoints"], clinical)
        features = load_user_table(config["feature_table"], table.patient_id)
        print(f"feature table {config['feature_table']}: valid, {len(features)} patients, "
              f"{features.shape[1] - 1} features")
        _validate_omics(config)
        return 0
    if not sheet.exists() and config["demo"]["generate"]:
        print(f"patient sheet {sheet}: not there yet (the workflow generates the demo cohort first)")
        return 0
    kinds = scan_kinds(config["segmentation"]["method"])
    exclude = config["on_patient_error"] == "exclude"
    patients = load_patients(sheet, config["phases"], require_masks="mask" in kinds,
                             require_boxes="box_prompt" in kinds, allow_missing=exclude)
    print(f"patient sheet {sheet}: valid, {len(patients)} patients")
    # Each reason once, with the phases it stops (a missing box prompt stops them all).
    found: dict[tuple[str, str], list[str]] = {}
    for pid in patients.index:
        for phase in config["phases"]:
            if reason := missing_input(patients, pid, phase, kinds, sheet):
                found.setdefault((pid, reason), []).append(phase)
    missing = [f"  patient {pid}, phase {', '.join(phases)}: {reason}"
               for (pid, reason), phases in found.items()]
    if missing and not exclude:
        raise TableError(f"patient sheet {sheet}: {len(missing)} missing input(s):\n"
                         + "\n".join(missing))
    if missing:
        print(f"patient sheet {sheet}: {len(missing)} missing input(s); with on_patient_error: "
              "exclude these patients will be excluded and listed in results/qc/excluded.tsv:\n"
              + "\n".join(missing))
    table = load_clinical(clinical)
    check_clinical_columns(table, config["endpoints"], clinical)
    check_same_patients(patients, table, sheet, clinical)
    print(f"clinical table {clinical}: valid, {len(table)} patients, {table.shape[1] - 1} columns")
    _validate_omics(config)
    return 0


def _validate_omics(config) -> None:
    """A user's transcriptomic inputs (omics.expression and its sample map): the same checks
    as the workflow's, before any job runs."""
    omics = config["omics"]
    if not (omics["enabled"] and omics["expression"]):
        return
    from hccfusion.omics.expression import load_expression, match_samples, read_sample_map
    from hccfusion.omics.genesets import check_coverage, read_gmt
    from hccfusion.persist import read_table

    expr = load_expression(omics["expression"], omics["values"], omics["duplicate_genes"])
    patients = read_table(omics["clinical"], "clinical")["patient_id"]
    matched = match_samples(expr.columns, read_sample_map(omics["samples"]), patients,
                            source=omics["expression"])
    print(f"expression matrix {omics['expression']}: valid, {len(expr)} genes x "
          f"{expr.shape[1]} samples, {len(matched)} matched to patients of {omics['clinical']}")
    hallmark = Path(omics["genesets"]["hallmark"] or "")
    if hallmark.is_file():
        check_coverage(expr.index, read_gmt(hallmark, "hallmark"),
                       min_size=omics["gsea"]["min_size"], source=omics["expression"])


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hccfusion",
        description="Multimodal CT radiomics + clinical prognosis for unresectable HCC.",
    )
    parser.add_argument("--version", action="version", version=f"hccfusion {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    demo = sub.add_parser("demo", help="generate the synthetic demo cohort")
    demo.add_argument("--out", required=True, help="output folder")
    demo.add_argument("--seed", type=int, default=20260620, help="generator seed (default %(default)s)")
    demo.add_argument("--scale", choices=["tiny", "default", "paper"], default="default")
    demo.add_argument("--no-images", action="store_true", help="write the tables only (fast)")
    demo.set_defaults(func=_cmd_demo)

    ext = sub.add_parser(
        "extract", help="radiomics of one image + mask, with exactly the workflow's settings"
    )
    ext.add_argument("--image", required=True, help="image: DICOM folder, NIfTI or NRRD")
    ext.add_argument("--mask", required=True, help="mask: NIfTI or NRRD")
    ext.add_argument("--series", help="SeriesInstanceUID or SeriesDescription in a DICOM folder")
    ext.add_argument("--config", help="workflow config whose radiomics and segmentation "
                     "settings to use (default: the workflow's defaults)")
    ext.add_argument("--params", help="PyRadiomics parameter file (default: the config's)")
    ext.add_argument("--no-preprocessing", action="store_true",
                     help="leave resampling and normalisation to the parameter file (IBSI "
                     "configurations) instead of the workflow's preparation")
    ext.add_argument("--prefix", default=None, help="prefix for feature names, e.g. arterial_")
    ext.add_argument("--out", default="-", help="output TSV (default: standard output)")
    ext.set_defaults(func=_cmd_extract)

    pred = sub.add_parser(
        "predict", help="apply trained models (a model directory) to new patients"
    )
    pred.add_argument("--models", required=True, help="model directory with manifest.json")
    pred.add_argument("--features", required=True, help="radiomics feature TSV (patient_id, ...)")
    pred.add_argument("--clinical", required=True, help="clinical TSV (patient_id, ...)")
    pred.add_argument("--out", default="-", help="output TSV (default: standard output)")
    pred.add_argument(
        "--allow-version-mismatch", action="store_true",
        help="warn instead of refusing models saved with another scikit-learn/scikit-survival "
        "major.minor version",
    )
    pred.set_defaults(func=_cmd_predict)

    val = sub.add_parser(
        "validate-config", help="check a config and the tables it names, without running anything"
    )
    val.add_argument("config", help="config YAML file")
    val.set_defaults(func=_cmd_validate)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        return args.func(args)
    except HccfusionError as exc:
        print(f"hccfusion {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
