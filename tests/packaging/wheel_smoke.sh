#!/usr/bin/env bash
# Builds the wheel, installs it where the checkout is not on the path and runs it from another folder, so a file
# the app needs but the wheel lacks (resources, ...) fails `make test`. Reuses the venv's installed dependencies
# (`--no-deps --target`), so it needs no network. Usage: tests/packaging/wheel_smoke.sh [PYTHON]
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
PY="$(cd "$(dirname "${1:-$ROOT/.venv/bin/python}")" && pwd)/$(basename "${1:-$ROOT/.venv/bin/python}")"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

# Built from a clean copy of the sources: an in-tree build/ folder would keep files deleted since.
mkdir -p "$WORK/src"
cp -r "$ROOT/pyproject.toml" "$ROOT/setup.py" "$ROOT/README.md" "$ROOT/LICENSE" "$ROOT/workbench" "$ROOT/resources" \
    "$WORK/src/"
"$PY" -m pip wheel --quiet --no-deps --no-build-isolation --wheel-dir "$WORK/dist" "$WORK/src" >/dev/null
"$PY" -m pip install --quiet --no-deps --no-compile --target "$WORK/site" "$WORK"/dist/workbench-*.whl
mkdir -p "$WORK/run" "$WORK/home"

# -P: the current folder is not put on sys.path (nor the checkout: cwd is a temp folder).
run() {
    (cd "$WORK/run" && env -u PYTHONHOME PYTHONPATH="$WORK/site" WORKBENCH_HOME="$WORK/home" \
        QT_QPA_PLATFORM=offscreen "$PY" -P "$@")
}

run -c '
import sys, workbench
where = workbench.__file__
assert where.startswith(sys.argv[1]), f"workbench imported from {where}, not from the installed wheel"
' "$WORK/site"
run -c 'import sys; from workbench.cli import main; sys.exit(main(sys.argv[1:]))' --version
# The top-level resources/ ship inside the package (setup.py), found from the installed wheel.
run -c '
import sys
from workbench.core.paths import APP_ICON, RESOURCES, SAMPLE_PROJECT
assert str(RESOURCES).startswith(sys.argv[1]) and SAMPLE_PROJECT.is_file() and APP_ICON.is_file(), RESOURCES
' "$WORK/site"
# Training the bundled sample from site-packages trains the user data folder'"'"'s copy: nothing written into the
# installation.
run -c 'import sys; from workbench.cli import main; sys.exit(main(sys.argv[1:]))' \
    train "$WORK/site/workbench/resources/sample/digits.wbproj" --epochs 1 >"$WORK/train.log" 2>&1 \
    || { cat "$WORK/train.log" >&2; exit 1; }
if [ -e "$WORK/site/workbench/resources/sample/runs" ] || [ ! -d "$WORK/home/sample/runs" ]; then
    echo "error: training the bundled sample wrote into the installation (or not into the user data folder)" >&2
    exit 1
fi
run -c 'import sys; from workbench.cli import main; sys.exit(main(sys.argv[1:]))' data inspect digits --json >"$WORK/inspect.json"
run -c 'import json, sys; doc = json.load(open(sys.argv[1])); assert doc["kind"] == "digits" and doc["num_classes"] == 10, doc' \
    "$WORK/inspect.json"
# The sample project opens in the main window (offscreen), as `workbench` with no argument does.
run -c '
from PySide6.QtWidgets import QApplication
from workbench.core.paths import sample_project
from workbench.ui.main_window import MainWindow
app = QApplication([])
window = MainWindow()
assert window.open_project(str(sample_project()), confirmed=True), "the sample project did not open"
assert window.session.project is not None
window.close()
print("sample project opened:", window.session.path.name)
'
# And the real entry point starts on the sample project and quits (its output is shown only if it fails: quitting
# while torch still loads on the warm-up thread may print a harmless traceback from that daemon thread).
if ! WORKBENCH_EXIT_AFTER=1 run -c 'import sys; from workbench.cli import main; sys.exit(main([]))' \
        >"$WORK/gui.log" 2>&1; then
    cat "$WORK/gui.log" >&2
    echo "error: \`workbench\` with no argument failed from the installed wheel" >&2
    exit 1
fi
echo "wheel smoke test passed"
