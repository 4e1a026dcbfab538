#!/bin/sh
# Reproduce BENCHMARKS.md: private redis-server, echo ceiling, gateway, every measurement.
# Gateway and echo server on CPU 0, the client on CPU 1 (taskset). Reports in ${OUT:-bench-out}.
set -eu
exec python -m bench suite --members "${MEMBERS:-100000}" --seconds 8 --step-seconds 5 \
  --start-rate 300 --factor 1.3 --h2load --py-spy --out "${OUT:-bench-out}" "$@"
