"""``python -m copr_importer``: the same as the ``copr-importer`` console script."""

from .cli import console

console()
