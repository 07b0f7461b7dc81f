"""``python -m scribe_sync``: the ``scribe-sync`` command."""

import sys

from .cli import main

sys.exit(main())
