"""``python -m copr_importer``."""

import sys

from .cli import main

sys.exit(main())
