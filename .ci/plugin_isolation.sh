#!/usr/bin/env bash
# Each plugin distribution's tests with only the kernel (recoil-core[test]) and that plugin's
# declared dependencies installed, so a test or module that needs an undeclared sibling fails.
#
#   .ci/plugin_isolation.sh DIST_DIR...     (`make test-isolated` passes PLUGIN_DIRS)
#
# Every distribution is built into a wheel once; the wheels and every third-party dependency
# go into one wheelhouse, then each plugin gets a fresh venv (no pip of its own: the dev
# venv's pip installs into it) filled from the wheelhouse alone, one plugin after another.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
PYTHON=${PYTHON:-python3}
[ "$#" -gt 0 ] || { echo "usage: $0 DIST_DIR..." >&2; exit 2; }

work=$(mktemp -d "${TMPDIR:-/tmp}/recoil-isolation.XXXXXX")
trap 'rm -rf "$work"' EXIT
wheels=$work/wheels
pip() { "$VENV/bin/pip" --quiet --disable-pip-version-check "$@"; }
started=$SECONDS

# Sources are copied first: building in place would leave build/ folders in the work tree.
mkdir -p "$work/src/recoil-core"
cp -r pyproject.toml README.md recoil_core "$work/src/recoil-core/"
sources=("$work/src/recoil-core")
for dir in "$@"; do
    name=$(basename "$dir")
    mkdir -p "$work/src/$name"
    cp -r "$dir/pyproject.toml" "$dir/src" "$work/src/$name/"
    [ -f "$dir/README.md" ] && cp "$dir/README.md" "$work/src/$name/"
    sources+=("$work/src/$name")
done
find "$work/src" \( -name '*.egg-info' -o -name __pycache__ \) -prune -exec rm -rf {} +

# One builder venv with a setuptools the pyprojects accept, then every wheel without
# build isolation (a fresh build environment per distribution costs seconds each).
"$PYTHON" -m venv --without-pip "$work/builder"
pip --python "$work/builder/bin/python" install "setuptools>=77" wheel
pip --python "$work/builder/bin/python" wheel --no-deps --no-build-isolation -w "$wheels" \
    "${sources[@]}"
# Third-party dependencies of them all (the kernel's test extra included), once.
# The local wheels are named by file, so no index's release of the same name is taken.
requirements=()
for wheel in "$wheels"/*.whl; do
    case $(basename "$wheel") in
        recoil_core-*) requirements+=("$wheel[test]") ;;
        *) requirements+=("$wheel") ;;
    esac
done
pip download --dest "$wheels" "${requirements[@]}"
echo "plugin isolation: wheelhouse ready in $((SECONDS - started)) s"

failed=()
for dir in "$@"; do
    t0=$SECONDS
    name=$(sed -n 's/^name = "\(.*\)"/\1/p' "$dir/pyproject.toml" | head -n1)
    venv=$work/venv-$(basename "$dir")
    "$PYTHON" -m venv --without-pip "$venv"
    pip --python "$venv/bin/python" install --no-index --find-links "$wheels" \
        "recoil-core[test]" "$name"
    # The installed pytest (not `python -m pytest`, which would put the work tree's
    # recoil_core first on sys.path), with the root configuration.
    if "$venv/bin/pytest" -q -p no:cacheprovider -c pyproject.toml --rootdir . "$dir/tests" \
        >"$work/$name.log" 2>&1; then
        echo "plugin isolation: $name ok ($(tail -n1 "$work/$name.log")) in $((SECONDS - t0)) s"
    else
        echo "plugin isolation: $name FAILED in $((SECONDS - t0)) s:"
        cat "$work/$name.log"
        failed+=("$name")
    fi
    rm -rf "$venv"
done
echo "plugin isolation: $# distributions in $((SECONDS - started)) s"
if [ "${#failed[@]}" -gt 0 ]; then
    echo "plugin isolation: failed: ${failed[*]}" >&2
    exit 1
fi
