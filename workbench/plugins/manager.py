"""Discovery, loading, isolation and enable/disable of plugins.

Plugins come from, in this order: the built-ins (`builtin.py`), installed distributions' entry points in the
group `workbench.plugins`, and the enabled plugin folders (the checkout's `plugins/`, the user's
`<user data>/plugins`, folders the user added). In a folder, each `name.py` file and each `name/` package with
an `__init__.py` is one plugin whose id is `name`; an entry point's id is its name.

A plugin is imported only when it is enabled and its folder is enabled. What its `register(api)` adds to the
registries is recorded as its contributions and wrapped by `guard.py`; if it fails to import or raises while
registering, whatever it had registered is removed again, the error and traceback are recorded and logged, and
loading goes on with the next plugin.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import logging
import os
import sys
import threading
import time
import traceback
import types
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from workbench.plugins.api import ENTRY_POINT_GROUP, PanelContribution, Plugin, PluginAPI
from workbench.plugins.builtin import BUILTINS
from workbench.plugins.confine import PLUGIN_MODULE_PREFIXES, PluginExited, PluginMovedFolder, confined_load
from workbench.plugins.state import load_state, save_state, state_path

log = logging.getLogger("workbench.plugins")
KINDS = ("layers", "sources", "exporters", "panels")
FOLDER_NAMESPACE = "workbench_plugins"  # folder plugins import as workbench_plugins.<id>
NO_PLUGINS_ENV = "WORKBENCH_NO_PLUGINS"  # =1: load the built-ins only (to rule out a misbehaving plugin)

BUILTIN, ENTRY_POINT, FOLDER = "built-in", "entry point", "folder"
LOADED, FAILED, DISABLED, FOLDER_DISABLED, SKIPPED = (
    "loaded",
    "failed",
    "disabled",
    "folder disabled",
    "skipped",
)


@dataclass
class PluginRecord:
    """One plugin as the dialog and `workbench plugins list` show it."""

    id: str
    name: str
    origin: str  # built-in | entry point | folder
    location: str  # a module, a distribution, or a path
    version: str = ""
    description: str = ""
    status: str = LOADED  # loaded | failed | disabled | folder disabled | skipped
    error: str | None = None
    traceback: str | None = None
    contributions: dict[str, list[str]] = field(default_factory=lambda: {k: [] for k in KINDS})
    seconds: float = 0.0
    module: str | None = None  # its name in sys.modules, when imported

    @property
    def can_disable(self) -> bool:
        return self.origin != BUILTIN

    @property
    def loaded(self) -> bool:
        return self.status == LOADED

    def contribution_summary(self) -> str:
        parts = [f"{len(v)} {k if len(v) != 1 else k[:-1]}" for k, v in self.contributions.items() if v]
        return ", ".join(parts) or "nothing"

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "version": self.version,
            "description": self.description,
            "origin": self.origin,
            "location": self.location,
            "status": self.status,
            "error": self.error,
            "traceback": self.traceback,
            "contributions": self.contributions,
            "seconds": round(self.seconds, 4),
        }


@dataclass
class _Candidate:
    id: str
    origin: str
    location: str
    load: Callable[[], Any]  # imports the plugin: a module, or its register function
    plugin: Plugin | None = None  # what is known without importing (entry-point metadata)
    module: str | None = None
    register: Callable[[PluginAPI], Any] | None = None  # built-ins
    adopts: str | None = None  # built-ins: registry kind they own


class PluginManager:
    def __init__(self, state_file: Path | None = None, entry_points: bool = True):
        self.state_file = state_file
        self.use_entry_points = entry_points
        self.state, self.state_warning = load_state(state_file)
        self.records: list[PluginRecord] = []
        self.loaded = False
        self._folders_at_load: dict[str, bool] = {}
        self._disabled_at_load: set[str] = set()

    # -- loading
    # ----------------------------------------------------------------------------------------------------
    def load(self) -> list[PluginRecord]:
        """Load every enabled plugin (once). Never raises because of a plugin."""
        if self.loaded:
            return self.records
        self.loaded = True
        self._folders_at_load = {str(p): on for p, on in self.folders()}
        self._disabled_at_load = set(self.state.disabled)
        started = time.perf_counter()
        safe_mode = os.environ.get(NO_PLUGINS_ENV, "").strip() not in ("", "0")
        for candidate in self._builtin_candidates():
            self._load_one(candidate)
        for candidate in self._entry_point_candidates() + self._folder_candidates():
            if safe_mode:
                self.records.append(self._unloaded_record(candidate, SKIPPED, f"{NO_PLUGINS_ENV} is set"))
            else:
                self._load_one(candidate)
        self._adopt_builtins()
        self._remember_known()
        failed = [r.id for r in self.records if r.status == FAILED]
        log.info(
            "plugins loaded in %.0f ms%s",
            (time.perf_counter() - started) * 1000,
            f"; failed: {', '.join(failed)}" if failed else "",
        )
        return self.records

    def unload(self) -> None:
        """Remove every third-party contribution and forget the imported plugin modules (tests, reloading)."""
        for record in self.records:
            if record.origin != BUILTIN and record.loaded:
                _unregister(record.contributions)
                _forget_modules(record.module)
        self.records = []
        self.loaded = False

    def _load_one(self, c: _Candidate) -> None:
        if any(r.id == c.id for r in self.records):
            first = next(r for r in self.records if r.id == c.id)
            self._fail(
                self._unloaded_record(c, FAILED),
                f"a plugin with the id '{c.id}' is already loaded from {first.location}; rename one of them",
                None,
            )
            return
        if c.origin != BUILTIN and not self.state.is_enabled(c.id):
            self.records.append(self._unloaded_record(c, DISABLED))
            return
        record = self._unloaded_record(c, LOADED)
        before = _snapshot()
        started = time.perf_counter()
        try:
            with confined_load():  # os._exit refused, os.chdir undone, prints kept off the CLI's stdout
                if c.register is not None:
                    register, plugin = c.register, c.plugin
                else:
                    register, plugin = _entry_of(_import_with_deadline(c), c)
                    record.module = c.module
                record.name, record.version, record.description = (
                    plugin.name,
                    plugin.version,
                    plugin.description,
                )
                register(PluginAPI(plugin, c.id, c.location))
        except (Exception, SystemExit, PluginExited) as exc:  # noqa: BLE001 - isolation: nothing a plugin raises stops start-up
            _unregister(_diff(before, _snapshot()))
            _forget_modules(c.module)
            record.module = None
            if isinstance(exc, PluginTimeout):
                self._disable_for_next_starts(record)
                self._fail(record, str(exc), None)
            elif isinstance(exc, (PluginExited, PluginMovedFolder)):
                self._disable_for_next_starts(record)
                self._fail(
                    record,
                    f"{exc}; it is disabled (fix it, then `workbench plugins enable {c.id}` or Help > Plugins)",
                    None,
                )
            else:
                self._fail(record, f"{type(exc).__name__}: {exc}", _plugin_traceback(exc))
            return
        finally:
            record.seconds = time.perf_counter() - started
        record.contributions = _diff(before, _snapshot())
        if (
            c.origin == ENTRY_POINT and c.module
        ):  # its package's code is plugin code (confine.exit_unless_plugin)
            PLUGIN_MODULE_PREFIXES.add(c.module.split(".")[0] + ".")
        if c.origin != BUILTIN:
            _guard_contributions(record)
        self.records.append(record)

    def _disable_for_next_starts(self, record: PluginRecord) -> None:
        """A plugin whose import did not finish (or that tried to end the process or move its working folder) is
        disabled for the next starts, so they do not wait or fight it again."""
        if record.id not in self.state.disabled:
            self.state.disabled = sorted([*self.state.disabled, record.id])
            try:
                save_state(self.state, self.state_file)
            except Exception as exc:  # noqa: BLE001 - this start goes on without it in any case
                log.warning("cannot save plugin settings: %s", exc)

    def discover(self) -> list[PluginRecord]:
        """The plugins' records without importing any of them (for enable / disable, which must work even when
        a plugin hangs or crashes on import). Does nothing once `load()` ran."""
        if self.loaded or self.records:
            return self.records
        for c in self._builtin_candidates() + self._entry_point_candidates() + self._folder_candidates():
            if not any(r.id == c.id for r in self.records):
                enabled = c.origin == BUILTIN or self.state.is_enabled(c.id)
                self.records.append(
                    self._unloaded_record(
                        c, LOADED if c.origin == BUILTIN else (SKIPPED if enabled else DISABLED)
                    )
                )
        return self.records

    def _fail(self, record: PluginRecord, error: str, tb: str | None) -> None:
        record.status, record.error, record.traceback = FAILED, error, tb
        self.records.append(record)
        log.error(
            "plugin '%s' (%s) failed to load: %s; details: Help > Plugins or `workbench plugins list`",
            record.id,
            record.location,
            error,
        )
        if tb:
            log.info("plugin '%s' traceback:\n%s", record.id, tb.rstrip())

    def _unloaded_record(self, c: _Candidate, status: str, error: str | None = None) -> PluginRecord:
        known = self.state.known.get(c.id, {})
        plugin = c.plugin
        record = PluginRecord(
            c.id,
            plugin.name if plugin else known.get("name", c.id),
            c.origin,
            c.location,
            version=plugin.version if plugin else known.get("version", ""),
            description=plugin.description if plugin else known.get("description", ""),
            status=status,
            error=error,
        )
        if status != LOADED:
            saved = known.get("contributions", {})
            record.contributions = {k: list(saved.get(k, [])) for k in KINDS}
        return record

    def _adopt_builtins(self) -> None:
        """Entries no plugin registered were there before plugins loaded: the registries' own built-ins."""
        owned = {
            k: {n for r in self.records if r.origin != BUILTIN for n in r.contributions[k]} for k in KINDS
        }
        now = _snapshot()
        by_kind = {c.adopts: c.id for c in self._builtin_candidates()}
        for record in self.records:
            if record.origin == BUILTIN and record.loaded:
                kind = next(k for k, i in by_kind.items() if i == record.id)
                record.contributions[kind] = [n for n in now[kind] if n not in owned[kind]]

    def _remember_known(self) -> None:
        known = {
            r.id: {
                "name": r.name,
                "version": r.version,
                "description": r.description,
                "contributions": r.contributions,
            }
            for r in self.records
            if r.origin != BUILTIN and r.loaded
        }
        changed = {k: v for k, v in known.items() if self.state.known.get(k) != v}
        if changed and self.state_warning is None:
            self.state.known.update(changed)
            try:
                save_state(self.state, self.state_file)
            except Exception as exc:  # noqa: BLE001 - remembering names is a nicety, never a reason to fail
                log.warning("cannot save plugin settings: %s", exc)

    # -- discovery
    # --------------------------------------------------------------------------------------------------
    def _builtin_candidates(self) -> list[_Candidate]:
        return [
            _Candidate(
                b.id,
                BUILTIN,
                ", ".join(b.modules),
                load=lambda: None,
                plugin=b.plugin,
                register=b.register,
                adopts=b.kind,
            )
            for b in BUILTINS
        ]

    def _entry_point_candidates(self) -> list[_Candidate]:
        if not self.use_entry_points:
            return []
        out = []
        for ep in sorted(importlib.metadata.entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
            dist = getattr(ep, "dist", None)
            version = dist.version if dist else ""
            summary = (dist.metadata.get("Summary") or "") if dist else ""
            where = f"{dist.name} {version} ({ep.value})" if dist else ep.value
            out.append(
                _Candidate(
                    ep.name,
                    ENTRY_POINT,
                    where,
                    load=ep.load,
                    plugin=Plugin(ep.name, version, summary),
                    module=ep.module,
                )
            )
        return out

    def folders(self) -> list[tuple[Path, bool]]:
        return self.state.folder_list()

    def _folder_candidates(self) -> list[_Candidate]:
        out = []
        for folder, enabled in self.folders():
            for path in _plugin_paths(folder):
                plugin_id = path.stem if path.is_file() else path.name
                module = f"{FOLDER_NAMESPACE}.{plugin_id}"
                candidate = _Candidate(
                    plugin_id,
                    FOLDER,
                    str(path),
                    load=lambda p=path, m=module: _import_path(p, m),
                    module=module,
                )
                if not enabled:
                    self.records.append(
                        self._unloaded_record(
                            candidate,
                            FOLDER_DISABLED,
                            f"the folder {folder} is not enabled; enable it in "
                            "Help > Plugins to load what it holds",
                        )
                    )
                    continue
                out.append(candidate)
        return out

    # -- enable / disable (applied at the next start)
    # ------------------------------------------------------------------
    def record(self, plugin_id: str) -> PluginRecord | None:
        return next((r for r in self.records if r.id == plugin_id), None)

    def set_enabled(self, plugin_id: str, enabled: bool) -> None:
        record = self.record(plugin_id)
        if record is not None and not record.can_disable:
            raise ValueError(f"{record.name} is built in and cannot be disabled")
        disabled = [p for p in self.state.disabled if p != plugin_id]
        self.state.disabled = disabled if enabled else sorted([*disabled, plugin_id])
        self._save()

    def set_folder_enabled(self, folder: str | Path, enabled: bool) -> None:
        self.state.folders[str(Path(folder).expanduser())] = enabled
        self._save()

    def remove_folder(self, folder: str | Path) -> None:
        self.state.folders.pop(str(Path(folder).expanduser()), None)
        self._save()

    def _save(self) -> None:
        save_state(self.state, self.state_file)
        self.state_warning = None

    def pending_changes(self) -> list[str]:
        """What the next start will do differently from this one (folders first, then single plugins)."""
        changes = []
        folders_now = {str(p): on for p, on in self.folders()}
        for path, on in folders_now.items():
            if on != self._folders_at_load.get(path, False):
                changes.append(f"plugins in {path} will {'' if on else 'not '}be loaded")
        for r in self.records:
            now = self.state.is_enabled(r.id)
            if not r.can_disable or now == (r.id not in self._disabled_at_load):
                continue
            if r.origin == FOLDER and not folders_now.get(str(Path(r.location).parent), False):
                continue  # its folder decides
            changes.append(f"{r.name} will {'' if now else 'not '}be loaded")
        return changes

    def panels(self) -> list[PanelContribution]:
        from workbench.plugins.api import panel_contributions

        owners = {n: r.id for r in self.records if r.loaded for n in r.contributions["panels"]}
        return [replace(p, plugin=owners.get(p.dock_name, "")) for p in panel_contributions()]

    def path(self) -> Path:
        return self.state_file or state_path()


IMPORT_TIMEOUT_ENV = "WORKBENCH_PLUGIN_TIMEOUT"  # seconds a plugin may take to import (default 10)
DEFAULT_IMPORT_TIMEOUT = 10.0


class PluginTimeout(Exception):
    """A plugin's import did not finish within the deadline."""


def import_timeout() -> float:
    try:
        value = float(os.environ.get(IMPORT_TIMEOUT_ENV, DEFAULT_IMPORT_TIMEOUT))
    except ValueError:
        return DEFAULT_IMPORT_TIMEOUT
    return value if value > 0 and value == value else DEFAULT_IMPORT_TIMEOUT


def _import_with_deadline(c: _Candidate) -> Any:
    """`c.load()` in a daemon thread, waited for at most `import_timeout()` seconds: a plugin that hangs on
    import (a network call, a lock, an endless loop) cannot hang Workbench. The thread is left behind (Python
    cannot stop it); it ends with the process."""
    result: dict[str, Any] = {}

    def run() -> None:
        try:
            result["value"] = c.load()
        except BaseException as exc:  # noqa: BLE001 - handed to the loading thread
            result["error"] = exc

    limit = import_timeout()
    thread = threading.Thread(target=run, name=f"wb-plugin-import-{c.id}", daemon=True)
    thread.start()
    thread.join(limit)
    if thread.is_alive():
        raise PluginTimeout(
            f"the plugin did not finish importing within {limit:g} s; it is disabled (fix it, "
            f"then `workbench plugins enable {c.id}` or Help > Plugins)"
        )
    if "error" in result:
        raise result["error"]
    return result["value"]


def _entry_of(obj: Any, c: _Candidate) -> tuple[Callable[[PluginAPI], Any], Plugin]:
    """(register, Plugin) from what an import gave: a module with register/PLUGIN, or a register function."""
    module = (
        obj if isinstance(obj, types.ModuleType) else sys.modules.get(getattr(obj, "__module__", ""), None)
    )
    register = getattr(obj, "register", None) if isinstance(obj, types.ModuleType) else obj
    if not callable(register):
        raise TypeError(f"{c.location} defines no register(api) function; see docs/plugins.md")
    plugin = getattr(module, "PLUGIN", None) if module is not None else None
    if plugin is None:  # no PLUGIN: the distribution's metadata, the module's docstring
        doc = (getattr(module, "__doc__", None) or "").strip().splitlines()
        known = c.plugin or Plugin(c.id, "")
        plugin = Plugin(
            known.name,
            known.version or str(getattr(module, "__version__", "0.0")),
            known.description or (doc[0] if doc else ""),
        )
    if not isinstance(plugin, Plugin):
        raise TypeError(
            f"PLUGIN in {c.location} must be a workbench.plugins.Plugin, not {type(plugin).__name__}"
        )
    return register, plugin


def _plugin_traceback(exc: BaseException) -> str:
    """The traceback from the plugin's point of view: the loader's own frames and importlib's are left out."""
    te = traceback.TracebackException.from_exception(exc)
    frames = [
        f for f in te.stack if f.filename != __file__ and not f.filename.startswith("<frozen importlib")
    ]
    te.stack = traceback.StackSummary.from_list(frames)
    return "".join(te.format())


def _plugin_paths(folder: Path) -> list[Path]:
    try:
        entries = sorted(folder.iterdir())
    except OSError:
        return []
    return [
        p
        for p in entries
        if not p.name.startswith(("_", "."))
        and ((p.is_file() and p.suffix == ".py") or (p.is_dir() and (p / "__init__.py").is_file()))
    ]


def _import_path(path: Path, module_name: str) -> types.ModuleType:
    """Import a plugin file or package folder as `workbench_plugins.<id>` (so relative imports work)."""
    if FOLDER_NAMESPACE not in sys.modules:
        namespace = types.ModuleType(FOLDER_NAMESPACE, "Plugins imported from plugin folders")
        namespace.__path__ = []
        sys.modules[FOLDER_NAMESPACE] = namespace
    if path.is_dir():
        spec = importlib.util.spec_from_file_location(
            module_name, path / "__init__.py", submodule_search_locations=[str(path)]
        )
    else:
        spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    spec.loader.exec_module(module)
    return module


def _forget_modules(name: str | None) -> None:
    if name:
        for key in [k for k in sys.modules if k == name or k.startswith(name + ".")]:
            del sys.modules[key]


def _snapshot() -> dict[str, list[str]]:
    from workbench.core.data.registry import source_types
    from workbench.core.export.registry import exporters
    from workbench.core.model.registry import layer_types
    from workbench.plugins.api import panel_contributions

    return {
        "layers": list(layer_types()),
        "sources": [s.kind for s in source_types()],
        "exporters": [e.name for e in exporters()],
        "panels": [p.dock_name for p in panel_contributions()],
    }


def _diff(before: dict[str, list[str]], after: dict[str, list[str]]) -> dict[str, list[str]]:
    return {k: [n for n in after[k] if n not in set(before[k])] for k in KINDS}


def _unregister(contributions: dict[str, list[str]]) -> None:
    from workbench.core.data.registry import unregister_source
    from workbench.core.export.registry import unregister_exporter
    from workbench.core.model.registry import unregister_layer
    from workbench.plugins.api import unregister_panel

    for kind, remove in (
        ("layers", unregister_layer),
        ("sources", unregister_source),
        ("exporters", unregister_exporter),
        ("panels", unregister_panel),
    ):
        for name in contributions.get(kind, []):
            remove(name)


def _guard_contributions(record: PluginRecord) -> None:
    from workbench.core.data.registry import get_source, register_source
    from workbench.core.export.registry import get_exporter, register_exporter
    from workbench.core.model.registry import get_layer_type, register_layer
    from workbench.plugins.guard import guard_exporter, guard_layer, guard_source

    for name in record.contributions["layers"]:
        register_layer(guard_layer(get_layer_type(name), record.id), replace=True)
    for kind in record.contributions["sources"]:
        register_source(guard_source(get_source(kind), record.id), replace=True)
    for name in record.contributions["exporters"]:
        register_exporter(guard_exporter(get_exporter(name), record.id), replace=True)


_MANAGER: PluginManager | None = None


def explain_missing(kind: str, name: str) -> str | None:
    """Why a layer type / data kind / exporter is unknown, when a plugin that is not loaded provides it."""
    manager = _MANAGER
    if manager is None or not manager.loaded:
        return None
    for r in manager.records:
        known = manager.state.known.get(r.id, {}).get("contributions", {})
        if r.loaded or name not in (r.contributions.get(kind, []) + known.get(kind, [])):
            continue
        how = {
            DISABLED: f"which is disabled; enable it in Help > Plugins (or `workbench plugins enable {r.id}`) "
            "and restart",
            FAILED: f"which failed to load ({r.error}); see Help > Plugins",
            FOLDER_DISABLED: f"whose folder is not enabled; enable {Path(r.location).parent} in Help > Plugins "
            "and restart",
            SKIPPED: f"which is not loaded because {NO_PLUGINS_ENV} is set",
        }.get(r.status, "which is not loaded")
        return f"it comes from the plugin '{r.name}', {how}"
    return None


def _install_hints() -> None:
    from workbench.core.data.registry import add_missing_hint as add_source_hint
    from workbench.core.export.registry import add_missing_hint as add_exporter_hint
    from workbench.core.model.registry import add_missing_hint as add_layer_hint

    add_layer_hint(lambda name: explain_missing("layers", name))
    add_source_hint(lambda kind: explain_missing("sources", kind))
    add_exporter_hint(lambda name: explain_missing("exporters", name))


_install_hints()


def plugin_manager() -> PluginManager:
    """The process's plugin manager (not loaded until `load_plugins()`)."""
    global _MANAGER
    if _MANAGER is None:
        _MANAGER = PluginManager()
    return _MANAGER


def load_plugins() -> PluginManager:
    """Load the plugins once per process (the GUI and the CLI call this at start-up)."""
    manager = plugin_manager()
    manager.load()
    return manager


def reset_plugins() -> None:
    """Unload third-party plugins and drop the process's manager (tests)."""
    global _MANAGER
    if _MANAGER is not None:
        _MANAGER.unload()
    _MANAGER = None
