"""Background components started and stopped with the operator, usable as ``async with``."""

from __future__ import annotations

from types import TracebackType
from typing import Self


class Lifecycle:
    """Subclasses implement ``start`` and ``stop``; ``async with`` calls them."""

    async def start(self) -> None:
        raise NotImplementedError

    async def stop(self) -> None:
        raise NotImplementedError

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.stop()
