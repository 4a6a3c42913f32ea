"""Exception types shared by the hccfusion library.

Per-patient rules run as independent jobs; when one fails, the log line must say which patient,
which phase and which file is at fault and why, so that a user can fix that input without
re-reading a traceback. :class:`PatientInputError` carries those four facts as attributes and
renders them into its message.
"""

from __future__ import annotations

from os import PathLike

__all__ = [
    "ConfigError", "HccfusionError", "PatientInputError", "TableError", "id_mismatch",
    "name_list",
]


class HccfusionError(Exception):
    """Base class of every error raised deliberately by hccfusion."""


class ConfigError(HccfusionError):
    """A config that breaks the schema or refers to something that does not exist."""


class TableError(HccfusionError):
    """A patient sheet or clinical table that breaks its schema (names file, row and column)."""


class PatientInputError(HccfusionError):
    """An input of one patient (image, mask, table row) is unusable.

    Parameters
    ----------
    reason:
        What is wrong, in words a user can act on (``"mask is empty"``).
    patient, phase, path:
        Where the problem is; each is optional and left out of the message when unknown.

    The message reads ``patient A001, phase arterial, file /x/y.nii.gz: mask is empty``.
    """

    def __init__(
        self,
        reason: str,
        *,
        patient: str | None = None,
        phase: str | None = None,
        path: str | PathLike[str] | None = None,
    ) -> None:
        self.reason = reason
        self.patient = patient
        self.phase = phase
        self.path = None if path is None else str(path)
        super().__init__(self._render())

    def _render(self) -> str:
        where = []
        if self.patient is not None:
            where.append(f"patient {self.patient}")
        if self.phase is not None:
            where.append(f"phase {self.phase}")
        if self.path is not None:
            where.append(f"file {self.path}")
        return f"{', '.join(where)}: {self.reason}" if where else self.reason

    def __reduce__(self):
        # Keep the keyword-only context when the error crosses a process boundary (pickling).
        return (_rebuild, (self.reason, self.patient, self.phase, self.path))


def _rebuild(reason, patient, phase, path):
    return PatientInputError(reason, patient=patient, phase=phase, path=path)


def name_list(values, limit: int = 20) -> str:
    """``A1, A2, A3 (and 40 more)``: the ids an error message names, at most ``limit``."""
    values = [str(v) for v in values]
    more = f" (and {len(values) - limit} more)" if len(values) > limit else ""
    return ", ".join(values[:limit]) + more


def id_mismatch(ids_a, ids_b, only_a: str, only_b: str, *, sep: str = "; ") -> str:
    """Where two tables disagree on their patients: ``"<only_a>: ids<sep><only_b>: ids"`` (each
    part only when non-empty, ids sorted), or ``""`` when they list the same patients. Every
    table pair of the workflow (sheet, clinical, features, split) reports it this way."""
    a, b = set(map(str, ids_a)), set(map(str, ids_b))
    parts = [f"{label}: {name_list(sorted(ids))}"
             for label, ids in ((only_a, a - b), (only_b, b - a)) if ids]
    return sep.join(parts)
