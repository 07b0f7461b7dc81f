"""Several mock processes on one port (``scribe-mock --workers N``)."""

from __future__ import annotations

from typing import Any

__all__ = ["Cluster"]


class Cluster:
    """The other workers, as seen from one worker."""

    async def consume_token(self, token: str) -> str | None:
        raise NotImplementedError

    async def sessions(self) -> list[dict[str, Any]]:
        raise NotImplementedError

    async def health(self) -> dict[str, Any]:
        raise NotImplementedError

    async def reset(self) -> None:
        raise NotImplementedError

    async def install_scenario(self, data: Any, api_key: str | None) -> None:
        raise NotImplementedError
