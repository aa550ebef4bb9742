"""Name -> builder registries: the only global state in ganforge.

Adding a model means adding one file under ``ganforge/models`` that calls :func:`register_model`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from .errors import UserError

T = TypeVar("T")


class Registry(dict[str, T]):
    """A dict of named things whose failed look-up is a :class:`UserError` listing the known names."""

    def __init__(self, kind: str):
        super().__init__()
        self.kind = kind

    def register(self, name: str) -> Callable[[T], T]:
        def decorator(obj: T) -> T:
            if name in self:
                raise ValueError(f"{self.kind} {name!r} is registered twice")
            self[name] = obj
            return obj

        return decorator

    def get_or_fail(self, name: str) -> T:
        if name not in self:
            known = ", ".join(sorted(self))
            raise UserError(f"unknown {self.kind} {name!r}: expected one of {known}")
        return self[name]
