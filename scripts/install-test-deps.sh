#!/usr/bin/env bash
# Installs what the tests need beyond cargo: the real Datadog Python clients
# (compatibility tests: datadog-api-client, datadog (datadogpy) and zstandard
# for zstd1 bodies) and s3s-fs, a real S3-compatible server that
# scripts/s3-server.sh starts for the S3 tests (strata-storage conformance,
# strata-cli storage_e2e). Installing s3s-fs compiles it: about 3 minutes.
set -euo pipefail

S3S_VERSION=0.14.1 # keep in step with scripts/s3-server.sh (0.17 needs a newer rustc)

if ! python3 -c 'import datadog_api_client' >/dev/null 2>&1; then
  python3 -m pip install --quiet --disable-pip-version-check 'datadog-api-client>=2.30'
fi
if ! python3 -c 'import datadog' >/dev/null 2>&1; then
  # datadogpy: api.Metric/Event/ServiceCheck and DogStatsd (metrics compatibility tests).
  python3 -m pip install --quiet --disable-pip-version-check 'datadog>=0.50'
fi
if ! python3 -c 'import zstandard' >/dev/null 2>&1; then
  # lets datadog-api-client send Content-Encoding: zstd1 to /api/v2/series.
  python3 -m pip install --quiet --disable-pip-version-check 'zstandard>=0.22'
fi
python3 -m pip show datadog-api-client datadog zstandard | grep -E '^(Name|Version):' || true

if ! command -v s3s-fs >/dev/null 2>&1 && [[ ! -x "$HOME/.cargo/bin/s3s-fs" ]]; then
  echo "installing s3s-fs $S3S_VERSION (takes a few minutes)"
  cargo install "s3s-fs@$S3S_VERSION" --features binary --locked
fi
echo "s3s-fs: $(command -v s3s-fs || echo "$HOME/.cargo/bin/s3s-fs")"
