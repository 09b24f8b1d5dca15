"""The exception tree, shaped by how a caller recovers.

::

    ImporterError                   root: ``except ImporterError`` catches all of ours
    ├── TransientError              retry later, with backoff (network, 5xx, 408, 429)
    │   └── StorageError            the disk is full, read-only or failing: nothing is
    │                               the input's fault; keep the work and retry later
    └── PermanentError              do not retry; report a failure with ``code``
        ├── BadInputError           the task or the SRPM is wrong: the user must fix it
        └── ConfigError             the operator's settings are wrong

Every :class:`PermanentError` carries a short machine-readable ``code`` (sent to
the frontend as ``error``) and a human message (sent alongside and written to the
per-task log).  Codes reuse copr's ``FailTypeEnum`` names where one fits.
"""

from __future__ import annotations

__all__ = [
    "BadInputError",
    "ConfigError",
    "ImporterError",
    "PermanentError",
    "StorageError",
    "TransientError",
]


class ImporterError(Exception):
    """Root of every exception this package raises on purpose."""


class TransientError(ImporterError):
    """The operation may succeed if repeated later (network, 5xx, a busy resource)."""


class StorageError(TransientError):
    """Local storage refused a write (ENOSPC, EROFS, EIO, EDQUOT): an operator's problem,
    never the build's.  The work that hit it stays where it is and is retried; nothing
    is reported failed because of it."""


class PermanentError(ImporterError):
    """Repeating the operation cannot help; the task fails with ``code``."""

    default_code = "srpm_import_failed"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.code = code or self.default_code
        self.message = message

    def as_report(self) -> dict[str, str]:
        """The ``error`` object that goes to the frontend and the result file."""
        return {"code": self.code, "message": self.message}


class BadInputError(PermanentError):
    """The task record or its SRPM is unacceptable (malformed, hostile, mismatched)."""

    default_code = "srpm_query_failed"


class ConfigError(PermanentError):
    """A setting is invalid; raised at start-up, before any task is touched."""

    default_code = "config_error"
