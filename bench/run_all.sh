#!/bin/sh
# Reproduce BENCHMARKS.md: private redis-server, echo ceiling, gateway, every measurement.
# Gateway and echo server on CPU 0, the client on CPU 1 (taskset). Reports in ${OUT:-bench-out}.
# Python: the project's .venv (activated or not) when it exists, else ${PYTHON:-python3}.
set -eu
root=$(CDPATH='' cd -- "$(dirname -- "$0")/.." && pwd)
if [ -x "$root/.venv/bin/python" ]; then PYTHON="$root/.venv/bin/python"; fi
echo "[run_all] python: ${PYTHON:-python3}" >&2
exec "${PYTHON:-python3}" -m bench suite --members "${MEMBERS:-100000}" --seconds 8 --step-seconds 5 \
  --start-rate 300 --factor 1.3 --h2load --py-spy --out "${OUT:-bench-out}" "$@"
