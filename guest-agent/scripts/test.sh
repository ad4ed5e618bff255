#!/usr/bin/env bash
# Runs the unit and integration tests offline with Debian's toolchain.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
"$CARGO" test --locked "$@"
