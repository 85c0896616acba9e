#!/usr/bin/env bash
# Installs what the compatibility tests need: the real Datadog Python client.
set -euo pipefail
if ! python3 -c 'import datadog_api_client' >/dev/null 2>&1; then
  python3 -m pip install --quiet --disable-pip-version-check 'datadog-api-client>=2.30'
fi
python3 -m pip show datadog-api-client | grep -E '^(Name|Version):' || true
