#!/usr/bin/env bash
# From a fresh machine to results: installs what the package needs beyond Swift (libjson-c for the
# adapter SDK), builds, and runs the quick suite on the built-in emulator.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! pkg-config --exists json-c 2>/dev/null; then
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo=sudo
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq libjson-c-dev pkg-config
fi
exec swift run -c release systolic-bench run "$@"
