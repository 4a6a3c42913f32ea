"""Config validation: schema, defaults, unknown keys, cross references, the CLI."""

from pathlib import Path

import pytest
import yaml

from hccfusion.cli import main
from hccfusion.config import load_config, load_schema, validate_config
from hccfusion.errors import ConfigError

REPO = Path(__file__).resolve().parents[1]


def test_default_config_is_valid_and_complete():
    raw = yaml.safe_load(open(REPO / "config" / "config.yaml"))
    cfg = validate_config(raw)
    assert cfg["recipes"]["PRIME-R"]["endpoints"] == ["response"]
    assert cfg["split"]["internal_fraction"] == 0.3
    # The default config spells out every top-level key of the schema, so it documents them all.
    assert set(load_schema("config")["properties"]) == set(raw)


def test_tiny_config_gets_defaults():
    cfg = load_config(REPO / "config" / "tiny.yaml")
    assert cfg["demo"]["scale"] == "tiny"
    assert cfg["preprocessing"]["max_missing_fraction"] == 0.3
    assert cfg["endpoints"]["os"] == {"type": "survival", "time": "os_days", "event": "os_event"}
    assert cfg["on_patient_error"] == "fail"


def test_every_schema_key_has_description_and_default():
    def walk(node, path):
        for key, sub in node.get("properties", {}).items():
            where = f"{path}.{key}" if path else key
            assert "description" in sub, where
            assert "default" in sub, where
            walk(sub, where)

    walk(load_schema("config"), "")


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"unknown_key": 1}, "'unknown_key' was unexpected"),
        ({"split": {"internal_fraction": 1.5}}, "split.internal_fraction"),
        ({"cv_folds": "five"}, "cv_folds"),
        ({"on_patient_error": "ignore"}, "on_patient_error"),
        ({"radiomics": {"params": "x.yaml", "bin_width": 25}}, "'bin_width' was unexpected"),
        ({"recipes": {"X": {"endpoints": ["nope"], "blocks": ["clinical"]}}}, "unknown endpoint 'nope'"),
        ({"recipes": {"../bad": {"endpoints": ["os"], "blocks": ["clinical"]}}}, "recipes"),
        ({"endpoints": {"os": {"type": "survival", "event": "os_event"}}}, "needs 'time'"),
        ({"phases": ["arterial", "venous;rm"]}, "phases.1"),
        ({"split": {"development_center": "B"}}, "are the same"),
    ],
)
def test_bad_config_names_the_key(change, expected):
    with pytest.raises(ConfigError, match="invalid config") as err:
        validate_config(change)
    assert expected in str(err.value)


def test_cli_validate_config(tmp_path, capsys):
    good = tmp_path / "good.yaml"
    good.write_text("demo: {out: demo, scale: tiny}\npatients: demo/patients.tsv\n")
    assert main(["validate-config", str(good)]) == 0
    bad = tmp_path / "bad.yaml"
    bad.write_text("cv_fold: 5\n")
    assert main(["validate-config", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "bad.yaml" in err and "'cv_fold' was unexpected" in err


def test_missing_config_file(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "nope.yaml")


def test_config_readme_explains_every_key():
    readme = (REPO / "config" / "README.md").read_text()

    def keys(node, path):
        for key, sub in node.get("properties", {}).items():
            where = f"{path}.{key}" if path else key
            yield where
            yield from keys(sub, where)

    missing = [k for k in keys(load_schema("config"), "") if f"`{k}`" not in readme]
    assert not missing, f"config/README.md does not explain: {missing}"


def test_unstratified_split_is_valid():
    # make_split supports an unstratified split; the schema must let the config ask for one.
    assert validate_config({"split": {"stratify_by": None}})["split"]["stratify_by"] is None
