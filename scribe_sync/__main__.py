"""``python -m scribe_sync``: the ``scribe-sync`` command."""

import sys

from .cli import main

__all__: list[str] = []

# Guarded: tools that import every module (the public-API test, pydoc) must not run the command.
if __name__ == "__main__":
    sys.exit(main())
