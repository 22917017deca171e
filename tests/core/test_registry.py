"""workbench.core.registry.Registry: the one register / lookup behind layers, sources, exporters, panels."""

from __future__ import annotations

import pytest

from workbench.core.errors import UserError
from workbench.core.registry import Registry


def test_register_lookup_replace_unregister_and_builtins_once():
    loads = []
    reg: Registry[tuple[str, int]] = Registry("colour", lambda item: item[0])
    reg._builtins = lambda: loads.append(reg.register(("red", 1)))
    assert reg.names() == ["red"] and reg.lookup("red") == ("red", 1)
    reg.register(("blue", 2))
    with pytest.raises(ValueError, match="a colour named 'blue' is already registered"):
        reg.register(("blue", 3))
    reg.register(("blue", 3), replace=True)
    assert reg.items() == [("red", 1), ("blue", 3)] and len(loads) == 1
    reg.unregister("blue")
    reg.unregister("never there")
    assert reg.names() == ["red"]


def test_unknown_names_are_explained_by_a_hook_or_listed():
    reg: Registry[str] = Registry("colour", str)
    reg.register("red")
    reg.register("green")
    with pytest.raises(UserError, match=r"^unknown colour 'blue'; choose one of: green, red$"):
        reg.lookup("blue")
    reg.add_missing_hint(lambda name: None)
    reg.add_missing_hint(lambda name: "its plugin is disabled" if name == "blue" else None)
    with pytest.raises(UserError, match=r"^unknown colour 'blue': its plugin is disabled$"):
        reg.lookup("blue")
    with pytest.raises(UserError, match=r"unknown colour \['x'\]"):  # an unhashable name from a bad file
        reg.lookup(["x"])
