"""A small name -> factory registry shared by models, noise types and datasets."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

from noisewalk.validate import unknown_name

T = TypeVar("T")


class Registry(Generic[T]):
    """Maps names to factories; unknown names raise an error that lists the valid ones."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, Callable[..., T]] = {}
        self._fallbacks: list[tuple[Callable[[], list[str]], Callable[[str], Callable[..., T]]]] = []
        self._prefixes: dict[str, Callable[[str], Callable[..., T]]] = {}
        self._resolvers: list[tuple[Callable[[str], bool], Callable[[str], Callable[..., T]]]] = []

    def register(self, name: str | None = None) -> Callable[[Callable[..., T]], Callable[..., T]]:
        def decorator(factory: Callable[..., T]) -> Callable[..., T]:
            key = name or factory.__name__
            if key in self._entries:
                raise ValueError(f"{self.kind} {key!r} is registered twice")
            self._entries[key] = factory
            return factory

        return decorator

    def add_fallback(self, names: Callable[[], list[str]], lookup: Callable[[str], Callable[..., T]]) -> None:
        """Names served by another catalogue (e.g. torchvision), listed after our own."""
        self._fallbacks.append((names, lookup))

    def add_prefix(self, prefix: str, lookup: Callable[[str], Callable[..., T]]) -> None:
        """Names ``PREFIX:NAME`` served by another library (``timm:``, ``hf:``); ``lookup(NAME)``
        returns the factory and raises for names that library does not know."""
        self._prefixes[prefix] = lookup

    def add_resolver(self, match: Callable[[str], bool], lookup: Callable[[str], Callable[..., T]]) -> None:
        """Names of a form ``match`` recognizes (``path/to/file.py:Class``) served by
        ``lookup(name)``, which raises an error of its own for names it cannot serve."""
        self._resolvers.append((match, lookup))

    def resolves(self, name: str) -> bool:
        """Whether ``name`` has a form one of the resolvers serves (it may still fail to load)."""
        return any(match(name) for match, _ in self._resolvers)

    def get(self, name: str) -> Callable[..., T]:
        if name in self._entries:
            return self._entries[name]
        for match, lookup in self._resolvers:
            if match(name):
                return lookup(name)
        prefix, sep, rest = name.partition(":")
        if sep and prefix in self._prefixes:
            return self._prefixes[prefix](rest)
        for names, lookup in self._fallbacks:
            if name in names():
                return lookup(name)
        raise unknown_name(self.kind, name, self.names())

    def create(self, name: str, **kwargs) -> T:
        return self.get(name)(**kwargs)

    def own_names(self) -> list[str]:
        return sorted(self._entries)

    def names(self) -> list[str]:
        extra = [n for names, _ in self._fallbacks for n in names() if n not in self._entries]
        return sorted(self._entries) + sorted(set(extra))

    def __contains__(self, name: object) -> bool:
        resolved = isinstance(name, str) and self.resolves(name)
        if resolved or (isinstance(name, str) and name.partition(":")[0] in self._prefixes and ":" in name):
            try:
                self.get(name)
            except Exception:
                return False
            return True
        return isinstance(name, str) and name in self.names()

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())
