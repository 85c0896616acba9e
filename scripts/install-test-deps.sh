#!/usr/bin/env bash
# Installs what the tests need beyond cargo: the real Datadog Python clients
# (compatibility tests: datadog-api-client, datadog (datadogpy) and zstandard
# for zstd1 bodies); the real clients of issue 6: the OpenTelemetry Python SDK
# with its OTLP/HTTP protobuf exporters, the Elasticsearch Python client,
# rsyslog and `logger` (Debian packages), and the OpenTelemetry JavaScript
# OTLP/HTTP JSON exporters (npm ci into crates/strata-cli/tests/compat/otlp-js,
# whose package-lock.json is committed); and s3s-fs, a real S3-compatible
# server that scripts/s3-server.sh starts for the S3 tests (strata-storage
# conformance, strata-cli storage_e2e). Installing s3s-fs compiles it: about
# 3 minutes. Every step is skipped when its tool is already there.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

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
# Issue 6: the OpenTelemetry Python SDK and its OTLP/HTTP protobuf exporters
# (tests/compat/otel_python.py), and the Elasticsearch client (bulk intake tests).
if ! python3 -c 'import opentelemetry.sdk, opentelemetry.exporter.otlp.proto.http' >/dev/null 2>&1; then
  python3 -m pip install --quiet --disable-pip-version-check \
    'opentelemetry-sdk>=1.20,<2' 'opentelemetry-exporter-otlp-proto-http>=1.20,<2'
fi
if ! python3 -c 'import elasticsearch, sys; sys.exit(elasticsearch.__versionstr__.split(".")[0] != "8")' >/dev/null 2>&1; then
  python3 -m pip install --quiet --disable-pip-version-check 'elasticsearch>=8,<9'
fi
python3 -m pip show datadog-api-client datadog zstandard opentelemetry-sdk \
  opentelemetry-exporter-otlp-proto-http elasticsearch | grep -E '^(Name|Version):' || true

# Issue 6: rsyslog (the syslog tests run their own rsyslogd with their own
# config) and `logger` (bsdutils). Root here: no sudo. apt-get update only when
# something is missing; wait for another apt-get holding the dpkg lock.
apt_packages=()
command -v rsyslogd >/dev/null 2>&1 || [[ -x /usr/sbin/rsyslogd ]] || apt_packages+=(rsyslog)
command -v logger >/dev/null 2>&1 || apt_packages+=(bsdutils)
if ((${#apt_packages[@]})); then
  echo "apt-get install ${apt_packages[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get -o DPkg::Lock::Timeout=300 update -qq
  apt-get -o DPkg::Lock::Timeout=300 install -y --no-install-recommends "${apt_packages[@]}" >/dev/null
  if [[ " ${apt_packages[*]} " == *" rsyslog "* ]]; then
    # A system rsyslogd would hold /dev/log and any port its config names.
    # Images with policy-rc.d (exit 101) never start it; stop it where the
    # package's init script did, and keep it from starting at boot.
    if [[ -s /run/rsyslogd.pid ]] && kill -0 "$(cat /run/rsyslogd.pid)" 2>/dev/null; then
      echo "stopping the system rsyslogd that the package started"
      if command -v service >/dev/null 2>&1; then
        service rsyslog stop >/dev/null 2>&1 || kill "$(cat /run/rsyslogd.pid)" 2>/dev/null || true
      else
        kill "$(cat /run/rsyslogd.pid)" 2>/dev/null || true
      fi
    fi
    if command -v systemctl >/dev/null 2>&1 && [[ -d /run/systemd/system ]]; then
      systemctl disable --now rsyslog.service syslog.socket >/dev/null 2>&1 || true
    fi
    command -v update-rc.d >/dev/null 2>&1 && update-rc.d rsyslog disable >/dev/null 2>&1 || true
  fi
fi
echo "rsyslogd: $(command -v rsyslogd || echo /usr/sbin/rsyslogd); logger: $(command -v logger)"

# Issue 6: the OpenTelemetry JavaScript OTLP/HTTP JSON exporters, exactly as
# package-lock.json pins them (tests/compat/otlp-js/send.js).
OTLP_JS="$ROOT/crates/strata-cli/tests/compat/otlp-js"
if [[ ! -d "$OTLP_JS/node_modules/@opentelemetry/exporter-trace-otlp-http" ]]; then
  if ! command -v npm >/dev/null 2>&1; then
    echo "npm not found: installing nodejs and npm"
    export DEBIAN_FRONTEND=noninteractive
    apt-get -o DPkg::Lock::Timeout=300 update -qq
    apt-get -o DPkg::Lock::Timeout=300 install -y --no-install-recommends nodejs npm >/dev/null
  fi
  (cd "$OTLP_JS" && npm ci --no-audit --no-fund --loglevel=error)
fi
echo "otlp-js: node $(node --version), $(cd "$OTLP_JS" && node -p 'require("@opentelemetry/exporter-trace-otlp-http/package.json").version')"

if ! command -v s3s-fs >/dev/null 2>&1 && [[ ! -x "$HOME/.cargo/bin/s3s-fs" ]]; then
  echo "installing s3s-fs $S3S_VERSION (takes a few minutes)"
  cargo install "s3s-fs@$S3S_VERSION" --features binary --locked
fi
echo "s3s-fs: $(command -v s3s-fs || echo "$HOME/.cargo/bin/s3s-fs")"
