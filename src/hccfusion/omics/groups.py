"""Predicted groups of the matched patients, oriented for the transcriptomic comparisons.

The frozen models score the matched patients (:func:`hccfusion.persist.predict`) and split them
by the training-median cut-off (seed 001: "stratified into high- and low-risk groups based on the
median risk score from the training set"). Every comparison of the branch is then
*first group vs second group*, with the first group the one the endpoint is about, as in seed
001 Figure 7: predicted responders vs non-responders for response, high vs low risk for
survival. In both cases the first group is the patients whose model score is on the event side
of the cut-off, so a positive log2 fold change or NES means "higher in predicted responders"
for response and "higher in the high-risk group" for survival.
"""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

from hccfusion.errors import name_list
from hccfusion.stratify import HIGH, LOW, higher_is_worse

__all__ = ["GROUP_COLUMNS", "contrast_labels", "predicted_groups"]

#: Columns of ``results/omics/groups.tsv``.
GROUP_COLUMNS = ["sample_id", "patient_id", "recipe", "endpoint", "component", "score",
                 "risk_group", "group", "first"]


def contrast_labels(endpoint_name: str, endpoint: Mapping) -> tuple[str, str]:
    """Names of the first and second group of an endpoint (``("high risk", "low risk")``,
    ``("predicted response", "predicted no response")``)."""
    if endpoint.get("type") == "survival":
        return "high risk", "low risk"
    return f"predicted {endpoint_name}", f"predicted no {endpoint_name}"


def predicted_groups(predictions: pd.DataFrame, samples: pd.Series,
                     endpoints: Mapping[str, Mapping], *, component: str = "fusion",
                     ) -> pd.DataFrame:
    """One row per matched sample and (recipe, endpoint) of ``component``'s predictions.

    ``predictions``: the table of :func:`hccfusion.persist.predict`; ``samples``: sample_id ->
    patient_id (:func:`hccfusion.omics.expression.match_samples`); ``endpoints``: the config's
    endpoint definitions. ``first`` is True for the first group of :func:`contrast_labels`.
    """
    part = predictions[predictions.component == component]
    if part.empty:
        have = sorted(predictions.component.unique())
        raise ValueError(f"no predictions of component {component!r} (components: "
                         f"{name_list(have)})")
    rows = []
    for (recipe, endpoint), pred in part.groupby(["recipe", "endpoint"], sort=False):
        if endpoint not in endpoints:
            raise ValueError(f"predictions of {recipe} name endpoint {endpoint!r}, which the "
                             "config does not define")
        definition = endpoints[endpoint]
        pred = pred.set_index("patient_id")
        # Event side of the cut-off: high risk, or a low risk of a favourable event's absence.
        first_risk = HIGH if higher_is_worse(definition) else LOW
        first, second = contrast_labels(endpoint, definition)
        unscored = sorted(set(samples) - set(pred.index), key=str)
        if unscored:
            raise ValueError(f"no {component} prediction of {recipe} {endpoint} for matched "
                             f"patient(s) {name_list(unscored)}")
        for sample, patient in samples.items():
            row = pred.loc[patient]
            is_first = row.risk_group == first_risk
            rows.append({"sample_id": sample, "patient_id": patient, "recipe": recipe,
                         "endpoint": endpoint, "component": component, "score": row.score,
                         "risk_group": row.risk_group, "group": first if is_first else second,
                         "first": bool(is_first)})
    return pd.DataFrame(rows, columns=GROUP_COLUMNS)
