"""Benchmark files fold into one row per rule, with the memory each rule declares."""

import numpy as np

from hccfusion.benchmarking import COLUMNS, summarise

HEADER = "s\th:m:s\tmax_rss\tmax_vms\tmax_uss\tmax_pss\tio_in\tio_out\tmean_load\tcpu_time\n"


def test_summary_per_rule_with_declared_memory(tmp_path):
    (tmp_path / "ingest").mkdir()
    for job, (s, rss) in {"A1_arterial": (2.0, 150.0), "A1_venous": (4.0, 210.5)}.items():
        (tmp_path / "ingest" / f"{job}.tsv").write_text(
            HEADER + f"{s}\t0:00:0{int(s)}\t{rss}\t1\t1\t1\t0\t0\t50\t{s / 2}\n")
    (tmp_path / "split.tsv").write_text(HEADER + "1.0\t0:00:01\t90.0\t1\t1\t1\t0\t0\t50\t0.5\n")
    table = summarise(tmp_path, {"ingest": 3000, "fit_recipe": 4000})
    assert list(table.columns) == COLUMNS
    row = table.set_index("rule").loc["ingest"]
    assert (row.jobs, row.total_s, row.mean_s, row.max_s, row.max_rss_mb) == (2, 6.0, 3.0, 4.0,
                                                                              210.5)
    assert row.declared_mem_mb == 3000
    assert np.isnan(table.set_index("rule").loc["split", "declared_mem_mb"])
    assert list(table.rule) == ["ingest", "split"]  # by total time
    assert summarise(tmp_path / "none").empty and list(summarise(tmp_path / "none")) == COLUMNS
