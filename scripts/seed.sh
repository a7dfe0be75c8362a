#!/usr/bin/env bash
# Old entry point, kept for muscle memory: runs `inv db.seed` (arguments are passed on).
cd "$(dirname "$0")/.." && exec "$([ -x .venv/bin/inv ] && echo .venv/bin/inv || echo inv)" db.seed "$@"
