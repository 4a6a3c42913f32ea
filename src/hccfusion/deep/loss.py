r"""Training losses of the deep branch: Cox partial likelihood (Breslow ties) and masked BCE.

**Cox.** For risks :math:`r_i` (log relative hazards), observed times :math:`t_i` and event
indicators :math:`\delta_i` the negative log partial likelihood with Breslow's handling of tied
event times (Breslow NE. Covariance analysis of censored survival data. Biometrics
1974;30:89-99; Cox DR. Regression models and life-tables. J R Stat Soc B 1972;34:187-220) is

.. math::

    \ell(r) = -\frac{1}{d} \sum_{i:\,\delta_i = 1}
        \Big( r_i - \log \sum_{j:\,t_j \ge t_i} e^{r_j} \Big),

with :math:`d` the number of events (the mean keeps the loss's scale independent of the batch
size, as in DeepSurv: Katzman JL et al. BMC Med Res Methodol 2018;18:24). Every patient whose
time equals :math:`t_i` is in the risk set of :math:`t_i` (Breslow). The log-sum is a reverse
cumulative ``logsumexp`` over the patients sorted by time, so the loss is exact and stable for
any range of risks. In mini-batch training the risk sets are those of the batch.

Patients without the endpoint (missing time or event) are excluded by ``mask``; a batch without
an event has no partial likelihood and contributes zero (with a gradient of zero).

**Binary.** Binary cross-entropy on logits (``BCEWithLogits``), averaged over the patients that
have the endpoint.

:func:`multitask_loss` sums the per-endpoint losses with weights (default 1 each).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
import torch.nn.functional as F

__all__ = ["bce_loss", "cox_loss", "multitask_loss"]


def cox_loss(risk: torch.Tensor, time: torch.Tensor, event: torch.Tensor,
             mask: torch.Tensor | None = None) -> torch.Tensor:
    """Mean negative Cox partial log-likelihood per event, Breslow ties (module docstring).

    ``risk``, ``time``, ``event`` and ``mask`` are 1-D of equal length; ``event`` is 0/1 (or
    bool); ``mask`` (bool) keeps the patients that have the endpoint (default: finite time and
    event).
    """
    risk = risk.reshape(-1)
    time = time.reshape(-1).to(risk.dtype)
    event = event.reshape(-1).to(risk.dtype)
    if mask is None:
        mask = torch.isfinite(time) & torch.isfinite(event)
    mask = mask.reshape(-1).to(torch.bool)
    if not (risk.numel() == time.numel() == event.numel() == mask.numel()):
        raise ValueError("risk, time, event and mask must have the same length")
    r, t, e = risk[mask], time[mask], event[mask]
    n_events = e.sum()
    if r.numel() == 0 or float(n_events) == 0.0:
        return risk.sum() * 0.0
    order = torch.argsort(t, stable=True)
    r, t, e = r[order], t[order], e[order]
    # log sum_{j >= k} exp(r_j) in ascending time order; ties take the value at their first index
    lse = torch.flip(torch.logcumsumexp(torch.flip(r, (0,)), 0), (0,))
    first = torch.searchsorted(t.contiguous(), t.contiguous(), right=False)
    return -torch.sum(e * (r - lse[first])) / n_events


def bce_loss(logit: torch.Tensor, target: torch.Tensor,
             mask: torch.Tensor | None = None) -> torch.Tensor:
    """Mean binary cross-entropy on logits over the patients with the endpoint (``mask``)."""
    logit = logit.reshape(-1)
    target = target.reshape(-1).to(logit.dtype)
    if mask is None:
        mask = torch.isfinite(target)
    mask = mask.reshape(-1).to(torch.bool)
    if not mask.any():
        return logit.sum() * 0.0
    return F.binary_cross_entropy_with_logits(logit[mask], target[mask])


def multitask_loss(
    outputs: Mapping[str, torch.Tensor],
    targets: Mapping[str, torch.Tensor],
    survival: Sequence[str],
    binary: Sequence[str],
    weights: Mapping[str, float] | None = None,
) -> tuple[torch.Tensor, dict[str, float]]:
    """Weighted sum of the Cox losses of ``survival`` and the BCE losses of ``binary``.

    ``outputs`` is a :class:`~hccfusion.deep.model.CropNet` output (``risk`` ``(n, len(survival))``
    and ``logit`` ``(n, len(binary))``); ``targets`` holds ``time_<endpoint>`` and
    ``event_<endpoint>`` per survival endpoint and ``y_<endpoint>`` per binary endpoint, NaN where
    a patient lacks the endpoint. Returns the total and the per-endpoint values (floats).
    """
    weights = weights or {}
    total = outputs["risk"].sum() * 0.0
    parts: dict[str, float] = {}
    for k, name in enumerate(survival):
        loss = cox_loss(outputs["risk"][:, k], targets[f"time_{name}"], targets[f"event_{name}"])
        total = total + float(weights.get(name, 1.0)) * loss
        parts[name] = float(loss.detach())
    for k, name in enumerate(binary):
        loss = bce_loss(outputs["logit"][:, k], targets[f"y_{name}"])
        total = total + float(weights.get(name, 1.0)) * loss
        parts[name] = float(loss.detach())
    return total, parts
