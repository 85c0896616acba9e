"""Sends DogStatsD traffic to a Strata listener with the real `datadog` package
(datadogpy's DogStatsd), issue 5: one client with buffering disabled (one
datagram per message, datadogpy's default) and one with buffering enabled
(several messages per datagram), plus raw datagrams for what the client cannot
send deterministically: sample rates (`|@0.5`; the client drops samples at
random), value packing, a timestamped count, and malformed lines mixed with
valid ones in one datagram.

Usage: dogstatsd_metrics.py HOST PORT

Everything is sent within one 10 s aggregation window (the script waits for
the start of a window when less than 5 s of the current one are left), so the
Rust test (tests/metrics_compat.rs) can check exact per-window values. Prints
one JSON object on the last line of stdout: the window start, how many metric
lines, events and service checks were sent, and the malformed lines by the
reason the server should count.
"""
import json
import socket
import sys
import time

from datadog.dogstatsd import DogStatsd

host, port = sys.argv[1], int(sys.argv[2])

# Stay inside one window: [t - t % 10, +10).
offset = time.time() % 10
if offset > 5:
    time.sleep(10 - offset + 0.2)
window = int(time.time()) // 10 * 10
metric_lines = 0
events = 0
service_checks = 0

# Buffering off (datadogpy's default since 0.47): one datagram per message.
# Client telemetry off, so that only the lines counted here are sent.
plain = DogStatsd(host=host, port=port, origin_detection_enabled=False, disable_buffering=True,
                  disable_telemetry=True)
tags = ["env:compat"]
for _ in range(10):
    plain.increment("statsd.compat.hits", tags=tags)
plain.increment("statsd.compat.hits", value=5, tags=tags)
plain.decrement("statsd.compat.hits", value=2, tags=tags)
metric_lines += 12
for value in (1, 7, 3):
    plain.gauge("statsd.compat.queue", value, tags=tags)
metric_lines += 3
for value in (10, 20, 30, 40):
    plain.histogram("statsd.compat.request_size", value, tags=tags)
metric_lines += 4
plain.timing("statsd.compat.db_time", 100, tags=tags)
plain.timing("statsd.compat.db_time", 300, tags=tags)
metric_lines += 2
for member in ("alice", "bob", "alice", "carol", "bob", 42):
    plain.set("statsd.compat.users", member, tags=tags)
metric_lines += 6
plain.event("Disk almost full", "sda1 at 91%\nclean up /var/log", alert_type="error",
            aggregation_key="disk-sda1", source_type_name="compat", hostname="db-1",
            tags=["env:compat", "device:sda1"])
events += 1
plain.service_check("compat.db.can_connect", DogStatsd.CRITICAL, tags=["env:compat"],
                    hostname="db-1", message="timed out m: 10s")
service_checks += 1
plain.close_socket()

# Buffering on: messages packed into datagrams of up to 1432 bytes, sent on
# flush(). Client telemetry left on, as an application would run it.
buffered = DogStatsd(host=host, port=port, origin_detection_enabled=False,
                     disable_buffering=False)
for _ in range(5):
    buffered.count("statsd.compat.hits", 2, tags=tags)
metric_lines += 5
for value in range(1, 1001):
    buffered.distribution("statsd.compat.payload", float(value), tags=tags)
metric_lines += 1000
buffered.gauge("statsd.compat.connections", 12, tags=["env:compat", "host:db-1"])
metric_lines += 1
buffered.event("Buffered event", "from the buffered client", alert_type="info", tags=tags)
events += 1
buffered.service_check("compat.cache.ok", DogStatsd.OK, tags=tags, hostname="cache-1")
service_checks += 1
buffered.flush()
buffered.close_socket()

# Raw datagrams.
raw = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
raw.sendto(b"statsd.compat.sampled:3|c|@0.5|#env:compat\n", (host, port))
raw.sendto(b"statsd.compat.sampled:3|c|@0.5|#env:compat\nstatsd.compat.sampled:1|c|@0.25|#env:compat\n",
           (host, port))
metric_lines += 3
raw.sendto(b"statsd.compat.packed:1:2:3|h|#env:compat", (host, port))
metric_lines += 1
stamped = window - 60
raw.sendto(b"statsd.compat.stamped:5|c|#env:compat|T%d" % stamped, (host, port))
metric_lines += 1
malformed = [
    (b"no separator at all", "missing_type"),
    (b"statsd.compat.mixed:|c", "missing_value"),
    (b"statsd.compat.mixed:abc|g", "invalid_value"),
    (b"statsd.compat.mixed:5|zz", "unknown_type"),
    (b"_e{10,4}:short|text", "event_length_mismatch"),
    (b"_sc|compat.bad|9", "invalid_service_check_status"),
]
mixed = [b"statsd.compat.mixed:1|c|#env:compat"]
for line, _ in malformed:
    mixed.append(line)
mixed.append(b"statsd.compat.mixed:2|c|#env:compat")
raw.sendto(b"\n".join(mixed) + b"\n", (host, port))
metric_lines += 2
raw.close()

parse_errors = {}
for _, reason in malformed:
    parse_errors[reason] = parse_errors.get(reason, 0) + 1
print(json.dumps({
    "window": window,
    "stamped": stamped,
    "sent_until": time.time(),
    "metric_lines": metric_lines,
    "events": events,
    "service_checks": service_checks,
    "parse_errors": parse_errors,
}))
