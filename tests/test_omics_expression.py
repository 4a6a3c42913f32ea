"""Expression matrices, sample maps and gene-set files (hccfusion.omics.expression, .genesets):
reading, the bad inputs of issue 5, normalisation."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from hccfusion.omics.expression import (
    ExpressionError,
    load_expression,
    log2_expression,
    match_samples,
    read_sample_map,
)
from hccfusion.omics.genesets import GeneSetError, check_coverage, read_gmt

GENESETS = Path(__file__).resolve().parents[1] / "resources" / "genesets"


def _write(tmp_path, text: str, name: str = "expr.tsv"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_demo_counts_load_as_integers(tiny_demo_tables):
    counts = load_expression(tiny_demo_tables / "expression" / "counts.tsv", "counts")
    assert counts.shape[1] == 33 and counts.index.name == "gene"
    assert counts.index.is_unique and (counts.to_numpy() >= 0).all()
    assert counts.attrs["values"] == "counts"


def test_negative_counts_are_an_error_naming_gene_and_sample(tmp_path):
    path = _write(tmp_path, "gene\tS1\tS2\nA\t1\t-3\nB\t2\t5\n")
    with pytest.raises(ExpressionError, match=r"negative.*A/S2=-3"):
        load_expression(path, "counts")
    with pytest.raises(ExpressionError, match="negative"):
        load_expression(path, "tpm")
    assert load_expression(path, "log2").loc["A", "S2"] == -3  # log2 values may be negative


def test_fractional_counts_are_an_error_but_tpm_is_fine(tmp_path):
    path = _write(tmp_path, "gene\tS1\tS2\nA\t1.5\t3\nB\t2\t5\n")
    with pytest.raises(ExpressionError, match=r"non-integer.*A/S1=1.5.*tpm, fpkm or log2"):
        load_expression(path, "counts")
    assert load_expression(path, "tpm").loc["A", "S1"] == 1.5


def test_missing_and_text_cells_are_errors(tmp_path):
    path = _write(tmp_path, "gene\tS1\tS2\nA\t1\tNA\nB\tx\t5\n")
    with pytest.raises(ExpressionError, match=r"2 missing or non-numeric.*A/S2='NA'.*B/S1='x'"):
        load_expression(path, "counts")


def test_duplicated_sample_is_an_error(tmp_path):
    path = _write(tmp_path, "gene\tS1\tS1\nA\t1\t2\n")
    with pytest.raises(ExpressionError, match="duplicated sample"):
        load_expression(path, "counts")


def test_duplicated_genes_are_an_error_or_keep_the_most_expressed_row(tmp_path, caplog):
    path = _write(tmp_path, "gene\tS1\tS2\nA\t1\t1\nB\t2\t2\nA\t10\t20\nC\t0\t1\nC\t0\t0\n")
    with pytest.raises(ExpressionError, match=r"2 gene symbol\(s\) on several rows: "
                                              r"A \(lines 2, 4\), C \(lines 5, 6\);"):
        load_expression(path, "counts")
    with caplog.at_level(logging.WARNING):
        frame = load_expression(path, "counts", duplicates="keep_most_expressed")
    assert list(frame.index) == ["A", "B", "C"]
    assert frame.loc["A"].tolist() == [10, 20] and frame.loc["C"].tolist() == [0, 1]
    assert "2 duplicated gene symbol(s)" in caplog.text and "A, C" in caplog.text


def test_unknown_value_type_and_missing_file(tmp_path):
    with pytest.raises(ExpressionError, match="must be one of"):
        load_expression(tmp_path / "x.tsv", "rpkm")
    with pytest.raises(ExpressionError, match="does not exist"):
        load_expression(tmp_path / "x.tsv", "counts")


def test_log2_cpm_of_counts():
    counts = pd.DataFrame({"S1": [10.0, 90.0], "S2": [1.0, 0.0]}, index=["A", "B"])
    out = log2_expression(counts, "counts")
    assert np.allclose(out.S1, np.log2(np.array([1e5, 9e5]) + 1))
    assert np.allclose(out.S2, np.log2(np.array([1e6, 0]) + 1))
    assert np.allclose(log2_expression(counts, "tpm"), np.log2(counts + 1))
    with pytest.raises(ExpressionError, match="no counts at all: S3"):
        log2_expression(counts.assign(S3=0.0), "counts")


def test_sample_map_checks(tmp_path):
    good = read_sample_map(_write(tmp_path, "sample_id\tpatient_id\ns1\tP1\ns2\tP2\n", "m.tsv"))
    assert good.to_dict() == {"s1": "P1", "s2": "P2"}
    with pytest.raises(ExpressionError, match="patient.*more than once: P1"):
        read_sample_map(_write(tmp_path, "sample_id\tpatient_id\ns1\tP1\ns2\tP1\n", "m2.tsv"))
    with pytest.raises(ExpressionError, match="lacks column.*patient_id"):
        read_sample_map(_write(tmp_path, "sample_id\tpid\ns1\tP1\n", "m3.tsv"))


def test_unmatched_samples_warn_with_counts_and_no_match_is_an_error(caplog):
    smap = pd.Series({"s1": "P1", "s2": "P2", "s3": "P3"}, name="patient_id")
    with caplog.at_level(logging.WARNING):
        matched = match_samples(pd.Index(["s1", "s2", "s3", "sX"]), smap, ["P1", "P2"])
    assert matched.to_dict() == {"s1": "P1", "s2": "P2"}
    assert "1 of 4 sample(s) not in the sample map" in caplog.text and "sX" in caplog.text
    assert "1 sample(s) map to a patient without a prediction" in caplog.text
    assert "s3->P3" in caplog.text
    with pytest.raises(ExpressionError, match="no sample matches a scored patient"):
        match_samples(pd.Index(["sX", "sY"]), smap, ["P1"])


def test_gmt_reading_and_coverage(tmp_path, caplog):
    gmt = _write(tmp_path, "SET1\tdesc\tA\tB\tC\nSET2\tdesc\tC\tD\n", "x.gmt")
    coll = read_gmt(gmt, "mine")
    assert coll.sets == {"SET1": ["A", "B", "C"], "SET2": ["C", "D"]}
    assert coll.version.startswith("x.gmt sha256:") and len(coll.version) == len("x.gmt sha256:") + 12
    with caplog.at_level(logging.WARNING):
        table = check_coverage(["A", "C", "Z1", "Z2"], coll, min_size=2)
    assert "2 of 4 gene(s) are in no set" in caplog.text and "Z1, Z2" in caplog.text
    assert table.set_index("term").n_present.to_dict() == {"SET1": 2, "SET2": 1}
    assert "1 of 2 set(s)" in caplog.text  # SET2 keeps one gene: not tested
    with pytest.raises(GeneSetError, match="none of its 2 gene"):
        check_coverage(["Z1", "Z2"], coll)
    with pytest.raises(GeneSetError, match="line 1"):
        read_gmt(_write(tmp_path, "ONLY_NAME\n", "bad.gmt"))


def test_shipped_gene_sets_have_their_published_sizes():
    root = GENESETS
    assert len(read_gmt(root / "h.all.v7.0.symbols.gmt").sets) == 50
    assert len(read_gmt(root / "Charoentong2017_28immune.gmt").sets) == 28
    go = read_gmt(root / "GO_Biological_Process_2021.gmt")
    assert len(go.sets) == 6036


def test_validate_config_checks_a_users_expression_inputs(tmp_path, tiny_demo_tables, capsys):
    from hccfusion.cli import main

    demo = tiny_demo_tables
    features = tmp_path / "features.tsv"
    clinical = pd.read_csv(demo / "clinical.tsv", sep="\t")
    pd.DataFrame({"patient_id": clinical.patient_id, "venous_original_firstorder_Mean":
                  np.arange(len(clinical), dtype=float)}).to_csv(features, sep="\t", index=False)
    expr = demo / "expression"
    config = tmp_path / "user.yaml"
    text = (f"demo: {{generate: false}}\nclinical: {demo / 'clinical.tsv'}\n"
            f"feature_table: {features}\n"
            f"omics: {{expression: EXPR, samples: {expr / 'samples.tsv'}, "
            f"clinical: {expr / 'clinical.tsv'}, feature_table: {features}, "
            f"genesets: {{hallmark: {GENESETS / 'h.all.v7.0.symbols.gmt'}}}}}\n")
    config.write_text(text.replace("EXPR", str(expr / "counts.tsv")))
    assert main(["validate-config", str(config)]) == 0
    assert "33 matched to patients" in capsys.readouterr().out
    bad = tmp_path / "bad.tsv"
    counts = pd.read_csv(expr / "counts.tsv", sep="\t")
    counts.iloc[3, 5] = -1
    counts.to_csv(bad, sep="\t", index=False)
    config.write_text(text.replace("EXPR", str(bad)))
    assert main(["validate-config", str(config)]) == 2
    err = capsys.readouterr().err
    assert "negative" in err and f"{counts.gene[3]}/{counts.columns[5]}=-1" in err


def test_rows_without_a_gene_symbol_name_their_lines(tmp_path):
    # Line 5 is blank (pandas skips it), so the numbers are the file's, not pandas' rows.
    path = _write(tmp_path, "gene\tS1\nA\t1\n\t2\nB\t3\n\n\t4\n")
    with pytest.raises(ExpressionError, match=r"expr\.tsv: 2 row\(s\) without a gene symbol.*"
                                              r"line\(s\) 3, 6\)"):
        load_expression(path, "counts")


def test_non_utf8_files_name_the_file(tmp_path):
    path = tmp_path / "latin1.tsv"
    path.write_bytes("gene\tS\u00e91\nA\t1\n".encode("latin-1"))
    with pytest.raises(ExpressionError, match="latin1.tsv"):
        load_expression(path, "counts")
    gmt = tmp_path / "latin1.gmt"
    gmt.write_bytes("SET\tdesc\tA\u00e9\tB\n".encode("latin-1"))
    with pytest.raises(GeneSetError, match=r"latin1\.gmt is not UTF-8"):
        read_gmt(gmt)


def test_unreadable_sample_maps_name_the_file(tmp_path):
    with pytest.raises(ExpressionError, match=r"sample map .*empty\.tsv is not a readable TSV"):
        read_sample_map(_write(tmp_path, "", "empty.tsv"))
    ragged = _write(tmp_path, "sample_id\tpatient_id\ns1\tP1\ns2\tP2\textra\tmore\n",
                    "ragged.tsv")
    with pytest.raises(ExpressionError, match=r"sample map .*ragged\.tsv is not a readable TSV"):
        read_sample_map(ragged)


def test_samples_without_counts_name_the_matrix(tmp_path):
    path = _write(tmp_path, "gene\tS1\tS2\nA\t1\t0\nB\t2\t0\n")
    with pytest.raises(ExpressionError, match=r"expression matrix .*expr\.tsv: samples with no "
                                              "counts at all: S2"):
        log2_expression(load_expression(path, "counts"), "counts")
