"""The ``scribe-mock`` command (placeholder, completed below)."""
def main() -> None:
    raise SystemExit("not yet")
