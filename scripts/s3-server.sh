#!/usr/bin/env bash
# A real S3-compatible server on loopback for the strata-storage tests:
# s3s-fs (crates.io), which stores each bucket as a directory.
#
#   scripts/s3-server.sh start [DIR]   install if needed, start, print the env
#   scripts/s3-server.sh stop [DIR]    stop it
#   scripts/s3-server.sh env [DIR]     print the env of a running server
#
# DIR defaults to /tmp/strata-s3 and holds s3s.pid, s3s.log and data/ (the
# buckets). Port: S3_PORT (default 9900). Starting a running server is fine.
# Then: eval "$(scripts/s3-server.sh start)"; S3_TEST_REQUIRED=1 cargo nextest run -p strata-storage
set -euo pipefail

S3S_VERSION=0.14.1 # 0.17 needs a newer rustc than the workspace's
HOST=127.0.0.1
PORT=${S3_PORT:-9900}
ACCESS_KEY=strata
SECRET_KEY=strata-secret
BUCKET=strata-test

command_name=${1:-}
DIR=${2:-/tmp/strata-s3}
PID_FILE="$DIR/s3s.pid"
LOG_FILE="$DIR/s3s.log"
DATA_DIR="$DIR/data"

log() { echo "s3-server: $*" >&2; }

ensure_installed() {
    if command -v s3s-fs >/dev/null 2>&1; then
        return
    fi
    if [[ -x "$HOME/.cargo/bin/s3s-fs" ]]; then
        PATH="$HOME/.cargo/bin:$PATH"
        return
    fi
    log "installing s3s-fs $S3S_VERSION (takes a few minutes)"
    cargo install "s3s-fs@$S3S_VERSION" --features binary --locked >&2
    PATH="$HOME/.cargo/bin:$PATH"
}

# The pid in the pid file, if that process is alive and is s3s-fs.
running_pid() {
    [[ -f "$PID_FILE" ]] || return 1
    local pid
    pid=$(<"$PID_FILE")
    [[ "$pid" =~ ^[0-9]+$ ]] || return 1
    kill -0 "$pid" 2>/dev/null || return 1
    [[ "$(cat "/proc/$pid/comm" 2>/dev/null)" == s3s-fs* ]] || return 1
    echo "$pid"
}

port_answers() {
    (exec 3<>"/dev/tcp/$HOST/$PORT") 2>/dev/null
}

print_env() {
    echo "export S3_TEST_ENDPOINT=http://$HOST:$PORT"
    echo "export S3_TEST_BUCKET=$BUCKET"
    echo "export S3_TEST_ACCESS_KEY=$ACCESS_KEY"
    echo "export S3_TEST_SECRET_KEY=$SECRET_KEY"
}

start() {
    mkdir -p "$DATA_DIR/$BUCKET" # s3s-fs: a bucket is a directory under the root
    if pid=$(running_pid); then
        log "already running (pid $pid) on $HOST:$PORT"
        print_env
        return
    fi
    if port_answers; then
        log "port $PORT is taken by another process; set S3_PORT"
        exit 1
    fi
    ensure_installed
    nohup s3s-fs --host "$HOST" --port "$PORT" \
        --access-key "$ACCESS_KEY" --secret-key "$SECRET_KEY" \
        "$DATA_DIR" >"$LOG_FILE" 2>&1 </dev/null &
    local pid=$!
    echo "$pid" >"$PID_FILE"
    for _ in $(seq 1 100); do
        if port_answers; then
            log "started s3s-fs (pid $pid) on $HOST:$PORT, data in $DATA_DIR"
            print_env
            return
        fi
        if ! kill -0 "$pid" 2>/dev/null; then
            break
        fi
        sleep 0.1
    done
    log "s3s-fs did not start; its log ($LOG_FILE):"
    cat "$LOG_FILE" >&2 || true
    kill "$pid" 2>/dev/null || true
    rm -f "$PID_FILE"
    exit 1
}

stop() {
    local pid
    if ! pid=$(running_pid); then
        log "not running"
        rm -f "$PID_FILE"
        return
    fi
    kill "$pid"
    for _ in $(seq 1 50); do
        if ! kill -0 "$pid" 2>/dev/null; then
            break
        fi
        sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
        log "pid $pid did not stop on TERM; killing it"
        kill -9 "$pid"
    fi
    rm -f "$PID_FILE"
    log "stopped (pid $pid)"
}

case "$command_name" in
start) start ;;
stop) stop ;;
env)
    if ! running_pid >/dev/null; then
        log "not running"
        exit 1
    fi
    print_env
    ;;
*)
    echo "usage: $0 start|stop|env [DIR]" >&2
    exit 2
    ;;
esac
