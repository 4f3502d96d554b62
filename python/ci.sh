#!/usr/bin/env bash
# The Python package's CI: build it into a fresh virtual environment, as a
# user's `pip install ./python` does (maturin from PyPI as the PEP 517
# backend, one release build of the extension), then run its tests.
# Run from anywhere; `.ci/run` calls it. PYTHON picks the interpreter.
set -euo pipefail
cd "$(dirname "$0")/.."

python=${PYTHON:-python3}
venv=target/py-venv

step() { printf '\n==> python: %s   [%ss]\n' "$*" "$SECONDS"; }

step "lint the extension crate: cargo fmt --check, cargo clippy -D warnings"
(
  cd python
  cargo fmt --check
  PYO3_PYTHON="$(command -v "$python")" cargo clippy --locked --all-targets -- -D warnings
)

step "fresh virtual environment in $venv ($("$python" --version))"
rm -rf "$venv"
"$python" -m venv "$venv"

step "pip install ./python[dask] pytest (the dask extra: dask, distributed)"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check "./python[dask]" pytest
"$venv/bin/python" -c 'import nogil; print("nogil", nogil.__version__, "-", nogil.build_info())'

step "pytest python/tests -q (test_dask.py on a 2-process LocalCluster)"
# From the repository root, where no nogil/ folder can shadow the installed package.
"$venv/bin/pytest" python/tests -q -p no:cacheprovider
