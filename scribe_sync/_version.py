"""The package version, kept in one place for setup.cfg and ``scribe_sync.__version__``."""

__all__ = ["__version__"]

__version__ = "0.1.0"
