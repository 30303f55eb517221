#!/usr/bin/env bash
# Regenerate requirements/lock.txt, the exact set that .ci/install installs and CI tests: every
# extra (all + test) for Python 3.11 on Linux, with torch's CPU-only build.
#   pip install uv && bash requirements/compile.sh [extra uv options, e.g. --upgrade-package numpy]
# Without options it keeps the versions already locked (uv reads the output file as preferences);
# after any change, run the whole test suite on the new set before committing it.
# torch is resolved as the CPU build (2.x.y+cpu: its dependencies, no CUDA packages) and written as
# torch==2.x.y, which pip matches with the CPU build when one is on its index or find-links.
set -euo pipefail
cd "$(dirname "$0")/.."
TORCH=$(sed -n 's/^torch==\([0-9.]*\).*/\1/p' requirements/lock.txt 2>/dev/null || true)
TORCH=${TORCH:-2.13.0}
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
echo "torch==${TORCH}+cpu" > "$tmp/torch-cpu.txt"
# the current lock as the output file: uv keeps its versions unless told to upgrade
[ -f requirements/lock.txt ] && sed "s/^torch==${TORCH}\b/torch==${TORCH}+cpu/" requirements/lock.txt > "$tmp/lock.txt"
uv pip compile pyproject.toml --extra all --extra test --python-version 3.11 \
  --python-platform x86_64-manylinux_2_28 -c "$tmp/torch-cpu.txt" \
  --no-emit-find-links --annotation-style line \
  --custom-compile-command "bash requirements/compile.sh" -o "$tmp/lock.txt" "$@"
# drop the temporary constraint file from the annotations, and the +cpu local version label
sed -e 's/ # via -c [^ ]*torch-cpu.txt$//' -e 's/, -c [^ ]*torch-cpu.txt//' \
    -e 's/-c [^ ]*torch-cpu.txt, //' -e 's/^torch==\([0-9.]*\)+cpu/torch==\1/' \
    "$tmp/lock.txt" > requirements/lock.txt
echo "wrote requirements/lock.txt ($(grep -c '==' requirements/lock.txt) packages)" >&2
