#!/usr/bin/env bash
# Regenerate the dependency sets (needs uv: pip install uv):
#   bash requirements/compile.sh            -> requirements/lock.txt, the exact set that
#        .ci/install installs and CI tests: every extra (all + test), Python 3.11, Linux, torch's
#        CPU build.  It keeps the versions already locked (uv reads the output file as preferences);
#        pass uv options to move, e.g. --upgrade or --upgrade-package numpy.
#   bash requirements/compile.sh --lowest   -> requirements/lowest.txt, the lowest versions that
#        pyproject.toml's lower bounds allow (uv --resolution lowest-direct), for the lower-bound
#        check described in README "Install".
# After any change, run the whole test suite on the new set before committing it.
# torch is resolved as the CPU build (X+cpu: its dependencies, no CUDA packages) and written as
# torch==X, which pip matches with the CPU build when its index or find-links offers one.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=requirements/lock.txt
MODE=(--extra all --extra test)
SUFFIX=""
if [ "${1:-}" = "--lowest" ]; then
  shift
  OUT=requirements/lowest.txt
  SUFFIX=" --lowest"
  MODE=(--extra radiomics --extra deep --extra dask --extra test --resolution lowest-direct)
fi
TORCH=$(sed -n 's/^torch==\([0-9.]*\).*/\1/p' requirements/lock.txt 2>/dev/null || true)
TORCH=${TORCH:-2.13.0}
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
echo "torch==${TORCH}+cpu" > "$tmp/torch-cpu.txt"
# the current file as the output file: uv keeps its versions unless told to upgrade
[ -f "$OUT" ] && sed "s/^torch==${TORCH}\b/torch==${TORCH}+cpu/" "$OUT" > "$tmp/out.txt"
uv pip compile pyproject.toml "${MODE[@]}" --python-version 3.11 \
  --python-platform x86_64-manylinux_2_28 -c "$tmp/torch-cpu.txt" \
  --no-emit-find-links --annotation-style line \
  --custom-compile-command "bash requirements/compile.sh$SUFFIX" \
  -o "$tmp/out.txt" "$@"
sed -e 's/ # via -c [^ ]*torch-cpu.txt$//' -e 's/, -c [^ ]*torch-cpu.txt//' \
    -e 's/-c [^ ]*torch-cpu.txt, //' -e 's/^torch==\([0-9.]*\)+cpu/torch==\1/' \
    "$tmp/out.txt" > "$OUT"
echo "wrote $OUT ($(grep -c '==' "$OUT") packages)" >&2
