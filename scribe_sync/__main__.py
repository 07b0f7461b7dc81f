"""``python -m scribe_sync`` and the ``scribe-sync`` command's entry point."""

import sys

__all__: list[str] = []

#: What a Ctrl+C during start-up prints: the command's own handler is not installed yet.
_INTERRUPTED = "scribe-sync: interrupted\n"


def main() -> int:
    """Run the command. Importing it takes a while (about 0.15 s): a Ctrl+C in that time ends
    it as one later would, with one line and exit 130, never an import's traceback."""
    try:
        from .cli import main as command

        return command()
    except KeyboardInterrupt:
        try:
            sys.stderr.write(_INTERRUPTED)
            sys.stderr.flush()
        except (AttributeError, OSError, ValueError):  # no stderr, or a closed one
            pass
        return 130


# Guarded: tools that import every module (the public-API test, pydoc) must not run the command.
if __name__ == "__main__":
    sys.exit(main())
