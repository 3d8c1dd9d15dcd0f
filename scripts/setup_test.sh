#!/usr/bin/env bash
# Test-only system dependencies: Debian's chromium for the Prefect UI test (tests/test_flow_ui.py).
set -euo pipefail
if [ ! -x /usr/bin/chromium ]; then
    echo "installing chromium (headless Prefect UI test) ..."
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium
fi
