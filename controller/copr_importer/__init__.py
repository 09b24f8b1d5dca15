"""A Kubernetes-native, Copr-compatible dist-git importer.

The public surface is small: settings, the task model, the error tree and the
two loops.  Everything else is internal and may change.
"""

from .core.admission import Limits, choose
from .core.task import ImportTask, parse_task
from .errors import BadInputError, ConfigError, ImporterError, PermanentError, TransientError
from .settings import Settings, load_settings

__version__ = "0.1.0"

__all__ = [
    "BadInputError",
    "ConfigError",
    "ImportTask",
    "ImporterError",
    "Limits",
    "PermanentError",
    "Settings",
    "TransientError",
    "choose",
    "load_settings",
    "parse_task",
]
