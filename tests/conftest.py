"""Shared test setup: the mock's pytest plugin (works without installing the package)."""

pytest_plugins = ["mock_server.pytest_plugin"]
