"""Logging for workflow scripts: everything a rule's script says goes to the rule's log file."""

from __future__ import annotations

import logging
import sys


def to_file(path: str, level: int = logging.INFO) -> logging.Logger:
    """Send Python logging and stderr of this process to ``path`` (the rule's ``log:``).

    Warnings from libraries land in the same file, so a user reading ``logs/`` sees everything a
    job said. Returns the ``hccfusion`` logger.
    """
    handle = open(path, "a", buffering=1)  # noqa: SIM115 - lives as long as the job
    sys.stderr = handle
    logging.basicConfig(
        stream=handle,
        level=level,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        force=True,
    )
    logging.captureWarnings(True)
    return logging.getLogger("hccfusion")
