#!/usr/bin/env bash
# The prepared GPU check (measurements/gpu_check.py; --cpu-dry-run to verify it on a CPU); JSON to $OUT/gpu_check.json.
cd "$(dirname "$0")/.." && exec "${PYTHON:-$( [ -x .venv/bin/python ] && echo .venv/bin/python || echo python3 )}" measurements/gpu_check.py "$@"
