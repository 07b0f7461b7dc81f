"""The shared state of one mock server: keys, tokens, scenarios and per-key session counts.

:class:`Registry` is thread-safe: one lock (``_lock``) guards every field, because the event
loop (sessions, admin API) and the test thread (:meth:`MockServer.install_scenario
<mock_server.MockServer.install_scenario>`, :meth:`~Registry.mint_token`) both use it.
No method calls out while holding the lock.
"""

from __future__ import annotations

import secrets
import threading
from typing import Any

from .scenarios import Scenario, load_scenario
from .settings import Settings

__all__ = ["Registry"]


class Registry:
    """Keys, single-use tokens, scenarios (configured and admin-installed) and the number of
    open sessions per credential.

    Args:
        settings: the accepted keys, the configured scenarios, token lifetime and clock.
        token_prefix: hex digits every minted token starts with (a ``--workers`` worker's
            index, so that any worker can tell which one minted a token).
    """

    def __init__(self, settings: Settings, token_prefix: str = "") -> None:
        self.settings = settings
        self.token_prefix = token_prefix
        # _lock guards _tokens, _scenario, _scenario_set, _key_scenarios, _scenario_counts and
        # _active.
        self._lock = threading.Lock()
        self._tokens: dict[str, tuple[str, float]] = {}  # token -> (api key, expiry)
        self._scenario: Scenario | None = None  # admin-installed, global
        self._scenario_set = False
        self._key_scenarios: dict[str, Scenario] = {}  # admin-installed, per key
        self._scenario_counts: dict[int, int] = {}  # id(scenario) -> sessions that used it
        self._active: dict[str, int] = {}  # credential -> open sessions

    # ------------------------------------------------------------------------------ keys, tokens

    def key_ok(self, api_key: str | None) -> bool:
        """Whether ``api_key`` is accepted (any non-empty key when no list is configured)."""
        keys = self.settings.api_keys
        return bool(api_key) and (keys is None or api_key in keys)

    def mint_token(self, api_key: str) -> str:
        """A new single-use token for ``api_key``, valid for ``settings.token_ttl_secs``."""
        prefix = self.token_prefix
        token = "sutkn_" + prefix + secrets.token_hex(24 - len(prefix) // 2)
        expiry = self.settings.clock() + self.settings.token_ttl_secs
        with self._lock:
            self._tokens[token] = (api_key, expiry)
        return token

    def consume_token(self, token: str) -> str | None:
        """The API key ``token`` was minted for, consuming it; ``None`` if unknown or expired."""
        now = self.settings.clock()
        with self._lock:
            entry = self._tokens.pop(token, None)
        if entry is None or now >= entry[1]:
            return None
        return entry[0]

    # ------------------------------------------------------------------------------ scenarios

    def install_scenario(self, scenario: Any, api_key: str | None = None) -> None:
        """Install ``scenario`` (anything :func:`load_scenario` takes; ``None`` removes it)
        globally or for one key. Raises ``TypeError``/``ValueError``/``OSError`` if bad."""
        loaded = None if scenario is None else load_scenario(scenario)
        with self._lock:
            if api_key is None:
                self._scenario, self._scenario_set = loaded, loaded is not None
            elif loaded is None:
                self._key_scenarios.pop(api_key, None)
            else:
                self._key_scenarios[api_key] = loaded

    def scenario_for(self, key: str) -> tuple[Scenario | None, int]:
        """The scenario of a new session of credential ``key`` and the session's number among
        those that used that scenario (1-based; a fault's ``session`` counts these).

        Precedence: admin per key, configured per key, admin global, configured global.
        """
        settings = self.settings
        with self._lock:
            scenario: Scenario | None
            if key in self._key_scenarios:
                scenario = self._key_scenarios[key]
            elif key in settings.key_scenarios:
                scenario = settings.key_scenarios[key]
            elif self._scenario_set:
                scenario = self._scenario
            else:
                scenario = settings.scenario
            if scenario is None:
                return None, 0
            number = self._scenario_counts.get(id(scenario), 0) + 1
            self._scenario_counts[id(scenario)] = number
            return scenario, number

    # ------------------------------------------------------------------------------ sessions

    def acquire(self, key: str) -> bool:
        """Count a new open session of credential ``key``; ``False`` (nothing counted) when
        ``settings.max_sessions_per_key`` sessions are already open."""
        limit = self.settings.max_sessions_per_key
        with self._lock:
            count = self._active.get(key, 0)
            if limit is not None and count >= limit:
                return False
            self._active[key] = count + 1
            return True

    def release(self, key: str) -> None:
        """A session counted by :meth:`acquire` ended."""
        with self._lock:
            count = self._active.get(key, 0) - 1
            if count > 0:
                self._active[key] = count
            else:
                self._active.pop(key, None)

    def reset(self) -> None:
        """Forget tokens, admin-installed scenarios and scenario session numbers (open
        sessions stay counted)."""
        with self._lock:
            self._tokens.clear()
            self._scenario, self._scenario_set = None, False
            self._key_scenarios.clear()
            self._scenario_counts.clear()
