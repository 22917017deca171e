"""Isolation: a third-party contribution's callables are wrapped so that a bug in plugin code becomes a clear,
attributed error where Workbench already shows errors (the builder's layer marker, the dataset panel's
message, the export report), never a traceback that takes a panel down.

Errors a plugin raises on purpose (LayerError, UserError, Cancelled) pass through unchanged.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
from collections.abc import Callable
from typing import Any

from workbench.core.errors import Cancelled, UserError
from workbench.core.model.registry import LayerError
from workbench.plugins.api import PluginError
from workbench.plugins.confine import PluginExited, plugin_code

log = logging.getLogger("workbench.plugins")
GUARDED = "__workbench_plugin_guard__"
LAYER_CALLABLES = ("build", "infer", "shape", "count_params", "macs", "code", "load_weights")


def _describe(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _wrap(fn: Callable | None, what: str, error: Callable[[str], Exception]) -> Callable | None:
    if fn is None or getattr(fn, GUARDED, False):
        return fn

    @functools.wraps(fn)
    def guarded(*args, **kwargs):
        try:
            with plugin_code():  # what it prints goes to stderr, never into the CLI's --json output
                return fn(*args, **kwargs)
        except (LayerError, UserError, Cancelled):
            raise
        except PluginExited as exc:  # os._exit from plugin code during a CLI command
            raise error(f"{what} failed: {exc}; this is a bug in the plugin") from None
        except Exception as exc:
            log.warning("%s raised %s", what, _describe(exc), exc_info=True)
            raise error(f"{what} failed: {_describe(exc)}; this is a bug in the plugin") from exc

    setattr(guarded, GUARDED, True)
    return guarded


def guard_layer(lt, plugin_id: str):
    """A copy of LayerType `lt` whose rules and build raise PluginError (shown at the layer) on a plugin bug."""
    what = f"{lt.name} (plugin '{plugin_id}')"
    changes: dict[str, Any] = {
        name: _wrap(getattr(lt, name), f"{what} {name.replace('_', ' ')}", PluginError)
        for name in LAYER_CALLABLES
    }
    changes["extra"] = {**lt.extra, "plugin": plugin_id}
    return dataclasses.replace(lt, **changes)


def guard_source(source, plugin_id: str):
    what = f"the data source '{source.kind}' (plugin '{plugin_id}')"
    detect = source.detect
    if detect is not None and not getattr(detect, GUARDED, False):

        def safe_detect(path, _detect=detect):
            try:
                with plugin_code():
                    return bool(_detect(path))
            except Exception as exc:  # noqa: BLE001 - a bad guess must not stop detection of other kinds
                log.warning("%s: detect(%s) raised %s", what, path, _describe(exc))
                return False

        setattr(safe_detect, GUARDED, True)
        detect = safe_detect
    return dataclasses.replace(
        source,
        load=_wrap(source.load, f"{what} load", UserError),
        detect=detect,
        extra={**source.extra, "plugin": plugin_id},
    )


def guard_exporter(exporter, plugin_id: str):
    what = f"the exporter '{exporter.name}' (plugin '{plugin_id}')"
    write = exporter.write
    if not getattr(write, GUARDED, False):

        def guarded_write(job, _write=write):
            try:
                yield from _write(job)
            except (UserError, Cancelled, OSError):
                raise  # the pipeline turns OSError into a disk-space / permission message
            except Exception as exc:
                log.warning("%s write raised %s", what, _describe(exc), exc_info=True)
                raise UserError(
                    f"{what} write failed: {_describe(exc)}; this is a bug in the plugin"
                ) from exc

        setattr(guarded_write, GUARDED, True)
        write = guarded_write
    return dataclasses.replace(
        exporter,
        write=write,
        load=_wrap(exporter.load, f"{what} load", UserError),
        check=_wrap(exporter.check, f"{what} check", UserError),
    )
