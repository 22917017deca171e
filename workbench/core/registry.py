"""One registry type for everything that is registered by name: layer types (core/model/registry.py), data
sources (core/data/registry.py), exporters (core/export/registry.py) and plugin panels (plugins/api.py).

Built-ins register through the same `register` a plugin uses; a lookup of an unknown name asks the
"why is this unknown" hooks first (the plugin manager: "it comes from the plugin X, which is disabled") and
otherwise lists what is known.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

from workbench.core.errors import UserError

T = TypeVar("T")
Explain = Callable[[str], "str | None"]


def choose_one_of(name: str, known: list[str]) -> str:
    """The default end of an "unknown ..." message: what the user can pick instead."""
    return f"; choose one of: {', '.join(sorted(known))}"


class Registry(Generic[T]):
    """Items of type T by name, in registration order.

    `what` names an item in messages ("layer type", "data kind", ...); `key(item)` is its name; `builtins()`
    registers the built-in items on first use (an import, usually); `unknown(name, known)` ends the message
    for an unknown name that no hook explains."""

    def __init__(
        self,
        what: str,
        key: Callable[[T], str],
        builtins: Callable[[], object] | None = None,
        unknown: Callable[[str, list[str]], str] = choose_one_of,
    ):
        self.what = what
        self._key = key
        self._builtins = builtins
        self._unknown = unknown
        self._items: dict[str, T] = {}
        self._hints: list[Explain] = []
        self._only_here: set[str] = set()  # registered in this process only (not in the trainer process)

    def _ensure_builtins(self) -> None:
        load, self._builtins = self._builtins, None  # once; cleared first so registering inside is fine
        if load is not None:
            load()

    def register(self, item: T, replace: bool = False, only_here: bool = False) -> T:
        """Add `item`; a second item with the same name is refused unless `replace`. `only_here`: the item is
        registered in this process alone (a script or a test), so work on it runs here, not in the trainer
        process (which loads only the built-ins and plugins; see workbench.core.jobs.placement_of_item)."""
        name = self._key(item)
        if name in self._items and not replace:
            raise ValueError(f"a {self.what} named {name!r} is already registered")
        self._items[name] = item
        (self._only_here.add if only_here else self._only_here.discard)(name)
        return item

    def only_here(self, name: str) -> bool:
        return name in self._only_here

    def unregister(self, name: str) -> None:
        """Remove an item (a plugin being unloaded); unknown names are ignored."""
        self._items.pop(name, None)
        self._only_here.discard(name)

    def names(self) -> list[str]:
        self._ensure_builtins()
        return list(self._items)

    def items(self) -> list[T]:
        self._ensure_builtins()
        return list(self._items.values())

    def add_missing_hint(self, explain: Explain) -> None:
        """`explain(name) -> str | None` says why a name is unknown (the plugin manager: "its plugin is
        disabled")."""
        self._hints.append(explain)

    def why_unknown(self, name: str) -> str | None:
        return next((why for why in (explain(name) for explain in self._hints) if why), None)

    def lookup(self, name: str) -> T:
        """The item called `name`; UserError (one line saying why, or what is known) when there is none."""
        self._ensure_builtins()
        try:
            return self._items[name]
        except (KeyError, TypeError):
            why = self.why_unknown(name)
            if why:
                raise UserError(f"unknown {self.what} {name!r}: {why}") from None
            raise UserError(f"unknown {self.what} {name!r}{self._unknown(name, list(self._items))}") from None
