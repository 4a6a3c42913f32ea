"""Configuration: schema validation with defaults, and the checks a schema cannot express.

The JSON schemas live in ``workflow/schemas/`` (the package sees them through the
``hccfusion/schemas`` link), so the workflow (``snakemake.utils.validate``) and the command line
(``hccfusion validate-config``) check exactly the same rules.
"""

from __future__ import annotations

import copy
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from hccfusion.errors import ConfigError

SCHEMAS = ("config", "patients", "clinical")


def schema_path(name: str) -> Path:
    """Path of a schema file shipped with the package (``config``, ``patients``, ``clinical``)."""
    if name not in SCHEMAS:
        raise ValueError(f"unknown schema {name!r}; known: {', '.join(SCHEMAS)}")
    return Path(str(resources.files("hccfusion") / "schemas" / f"{name}.schema.yaml"))


def load_schema(name: str) -> dict:
    with open(schema_path(name)) as fh:
        return yaml.safe_load(fh)


def _with_defaults(validator_class):
    """Extend a validator so that missing properties get their schema ``default``.

    This is the recipe of the jsonschema FAQ, the same thing ``snakemake.utils.validate`` does
    with ``set_default=True``; nested objects are filled because validation descends into the
    default it has just set.
    """
    validate_properties = validator_class.VALIDATORS["properties"]

    def set_defaults(validator, properties, instance, schema):
        if isinstance(instance, dict):
            for name, sub in properties.items():
                if "default" in sub and name not in instance:
                    instance[name] = copy.deepcopy(sub["default"])
        yield from validate_properties(validator, properties, instance, schema)

    return jsonschema.validators.extend(validator_class, {"properties": set_defaults})


_DefaultFiller = _with_defaults(jsonschema.Draft202012Validator)


def _where(error: jsonschema.ValidationError) -> str:
    path = ".".join(str(p) for p in error.absolute_path)
    return path or "(top level)"


def validate_config(config: dict[str, Any]) -> dict[str, Any]:
    """Validate a config dict against the schema, fill defaults, and check cross references.

    Returns a new dict; raises :class:`ConfigError` listing every problem with the key it is at.
    """
    config = copy.deepcopy(config) if config is not None else {}
    if not isinstance(config, dict):
        raise ConfigError("the config must be a mapping of keys to values")
    validator = _DefaultFiller(load_schema("config"))
    errors = sorted(validator.iter_errors(config), key=lambda e: list(e.absolute_path))
    if errors:
        lines = [f"config key '{_where(e)}': {e.message}" for e in errors]
        raise ConfigError("invalid config:\n  " + "\n  ".join(lines))
    check_references(config)
    return config


def check_references(config: dict[str, Any]) -> None:
    """Checks across keys that JSON schema cannot express."""
    problems = []
    for name, ep in config["endpoints"].items():
        if ep["type"] == "survival" and "time" not in ep:
            problems.append(f"config key 'endpoints.{name}': a survival endpoint needs 'time'")
        if ep["type"] == "binary" and "time" in ep:
            problems.append(f"config key 'endpoints.{name}': a binary endpoint takes no 'time'")
    for rname, recipe in config["recipes"].items():
        for ep in recipe["endpoints"]:
            if ep not in config["endpoints"]:
                known = ", ".join(config["endpoints"])
                problems.append(
                    f"config key 'recipes.{rname}.endpoints': unknown endpoint {ep!r} (known: {known})"
                )
        # Extra feature tables exist only when their branch runs, and never with own features.
        used = set(recipe["blocks"]) | {b for c in recipe.get("comparators") or []
                                        for b in c.get("blocks", [])}
        for block in sorted(used & {"habitats", "deep"}):
            if config.get("feature_table"):
                problems.append(f"config key 'recipes.{rname}': block '{block}' needs images; "
                                "it is not available with feature_table")
            elif not (config.get(block) or {}).get("enabled"):
                problems.append(f"config key 'recipes.{rname}': block '{block}' needs "
                                f"{block}.enabled: true")
        if "fuse_like" in recipe:
            problems += _fuse_like_problems(config["recipes"], rname)
        names = [c["name"] for c in recipe.get("comparators") or []]
        taken = set(recipe["blocks"]) | {"early_fusion", "fusion"}
        clash = sorted({n for n in names if n in taken or names.count(n) > 1})
        if clash:
            problems.append(f"config key 'recipes.{rname}.comparators': name(s) {clash} repeat "
                            "a block, early_fusion, fusion or another comparator")
    if config["habitats"]["enabled"] and len(config["phases"]) < 2:
        problems.append("config key 'habitats.enabled': habitats need two phases (arterial, venous)")
    seg = config["segmentation"]
    if seg["method"] == "medsam" and not seg["medsam_checkpoint"]:
        problems.append("config key 'segmentation.medsam_checkpoint': needed by method 'medsam'")
    if config.get("feature_table") and config["demo"]["generate"]:
        problems.append(
            "config key 'feature_table': your own features need your own clinical table; "
            "set demo.generate: false"
        )
    omics = config.get("omics")
    if omics and omics["enabled"] and omics["expression"] and not config["demo"]["generate"]:
        # A user's matrix needs the user's map, clinical table and CT (or features) too.
        for key in ("samples", "clinical"):
            if not omics[key]:
                problems.append(f"config key 'omics.{key}': needed with omics.expression")
        if not omics["patients"] and not omics["feature_table"]:
            problems.append("config key 'omics.patients': the matched patients' CT sheet (or "
                            "omics.feature_table) is needed with omics.expression")
    if omics:
        for part in ("gsea", "ora"):
            unknown = [c for c in omics[part]["collections"] if c not in omics["genesets"]]
            if unknown:
                problems.append(f"config key 'omics.{part}.collections': unknown collection(s) "
                                f"{', '.join(unknown)} (known: {', '.join(omics['genesets'])})")
    split = config["split"]
    if split["development_center"] == split["external_center"]:
        problems.append("config key 'split': development_center and external_center are the same")
    if problems:
        raise ConfigError("invalid config:\n  " + "\n  ".join(problems))


def _fuse_like_problems(recipes: dict[str, Any], name: str) -> list[str]:
    """A recipe's ``fuse_like`` must name another late-fusion recipe of two or more of its
    blocks, for all of its endpoints, with blocks left over to fuse them with."""
    recipe, ref_name = recipes[name], recipes[name]["fuse_like"]
    key = f"config key 'recipes.{name}.fuse_like'"
    ref = recipes.get(ref_name)
    if ref is None or ref_name == name:
        return [f"{key}: {ref_name!r} is not another recipe (known: {', '.join(recipes)})"]
    problems = []
    if recipe.get("fusion", "late") != "late" or ref.get("fusion", "late") != "late":
        problems.append(f"{key}: both {name} and {ref_name} need fusion: late")
    if "fuse_like" in ref:
        problems.append(f"{key}: {ref_name} has a fuse_like itself (one level only)")
    if len(ref["blocks"]) < 2 or not set(ref["blocks"]) < set(recipe["blocks"]):
        problems.append(f"{key}: the blocks of {ref_name} ({', '.join(ref['blocks'])}) must be two "
                        f"or more of {name}'s, with at least one more ({', '.join(recipe['blocks'])})")
    missing = [ep for ep in recipe["endpoints"] if ep not in ref["endpoints"]]
    if missing:
        problems.append(f"{key}: {ref_name} does not model endpoint(s) {', '.join(missing)}")
    return problems


def load_config(path: str | Path) -> dict[str, Any]:
    """Read a YAML config file and validate it (defaults filled)."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file {path} does not exist")
    try:
        with open(path) as fh:
            raw = yaml.safe_load(fh) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"config file {path} is not valid YAML: {exc}") from exc
    try:
        return validate_config(raw)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None
