"""Drives Strata's metrics HTTP API with the real `datadog` package (datadogpy),
issue 5: api.Metric.send (/api/v1/series, plain and compress_payload=True),
api.Distribution.send (/api/v1/distribution_points), api.Event.create
(/api/v1/events), api.ServiceCheck.check (/api/v1/check_run), api.Metric.query
(GET /api/v1/query) and api.Metric.list (GET /api/v1/metrics).

Usage: datadogpy_metrics_api.py URL API_KEY APP_KEY

Prints one JSON object on the last line of stdout: what the intake answered,
every query answer as datadogpy returned it, and the metric list. The Rust test
(tests/metrics_compat.rs) checks the values. Exits non-zero when the client
raises or a response is not what Datadog would send.
"""
import json
import sys
import time

from datadog import api, initialize
from datadog.api.exceptions import ApiError

url, api_key, app_key = sys.argv[1], sys.argv[2], sys.argv[3]
# mute=False: client errors raise instead of being logged and swallowed.
# return_raw_response=True: every call also returns the requests.Response.
initialize(api_key=api_key, app_key=app_key, api_host=url, mute=False, return_raw_response=True)


def accepted(result, expected_body):
    body, raw = result
    assert raw.status_code == 202, (raw.status_code, body)
    assert body == expected_body, body
    return body


now = int(time.time())
# Two minutes back, on a minute boundary, so that every query below (from =
# t0 - 60, rollup 60) has whole buckets.
t0 = now - now % 60 - 120
ok = {"status": "ok"}

# Counts from two hosts; the first request sends the interval like datadogpy's docs.
accepted(api.Metric.send(metric="ddpy.requests", points=[(t0, 3), (t0 + 10, 4), (t0 + 20, 5)],
                         host="web-1", tags=["env:compat", "team:a"], type="count", interval=10), ok)
accepted(api.Metric.send(metric="ddpy.requests", points=[(t0 + 30, 10)], host="web-2",
                         tags=["env:compat", "team:b"], type="count"), ok)
# A gauge, zlib-compressed (Content-Encoding: deflate).
accepted(api.Metric.send(metric="ddpy.temperature", points=[(t0, 20.5), (t0 + 30, 21.5)],
                         host="web-1", tags=["env:compat"], type="gauge", compress_payload=True), ok)
# Several series in one request; metric_type is datadogpy's legacy spelling of type.
accepted(api.Metric.send(metrics=[
    {"metric": "ddpy.multi.a", "points": [(t0, 1.25)], "type": "gauge", "host": "web-1"},
    {"metric": "ddpy.multi.b", "points": [(t0, 2.5)], "metric_type": "gauge", "host": "web-1"},
]), ok)
# A bare value: datadogpy stamps it with the current time.
accepted(api.Metric.send(metric="ddpy.now", points=42, host="web-1"), ok)
# A name Datadog normalises (the space and '-' become '_').
accepted(api.Metric.send(metric="ddpy.odd name-x", points=[(t0, 7)], host="web-1", type="gauge"), ok)

# Distributions: 1..100 on web-1 over two points, 1000 on web-2 (deflate).
accepted(api.Distribution.send(metric="ddpy.latency",
                               points=[(t0, [float(v) for v in range(1, 11)]),
                                       (t0 + 10, [float(v) for v in range(11, 101)])],
                               host="web-1", tags=["env:compat"]), ok)
accepted(api.Distribution.send(metric="ddpy.latency", points=[(t0 + 20, [1000.0])], host="web-2",
                               tags=["env:compat"], compress_payload=True), ok)

# Events and a service check.
event_body, event_raw = api.Event.create(title="Deploy finished", text="version 42\nall good",
                                         tags=["env:compat", "deploy:42"], alert_type="success",
                                         aggregation_key="deploy-42", host="web-1")
assert event_raw.status_code == 202, (event_raw.status_code, event_body)
second_body, second_raw = api.Event.create(title="Second event", text="", tags=["env:compat"])
assert second_raw.status_code == 202, (second_raw.status_code, second_body)
accepted(api.ServiceCheck.check(check="app.can_connect", host_name="web-1", status=2,
                                message="connection refused", tags=["env:compat", "db:main"]), ok)

queries = {
    "requests_sum": "sum:ddpy.requests{env:compat}.rollup(sum, 60)",
    "requests_by_host": "sum:ddpy.requests{env:compat} by {host}.rollup(sum, 60)",
    "requests_team_b": "sum:ddpy.requests{team:b}.rollup(sum, 60)",
    "requests_not_team_b": "sum:ddpy.requests{!team:b}.rollup(sum, 60)",
    "requests_points": "sum:ddpy.requests{*}.rollup(count, 60)",
    "temperature_avg": "avg:ddpy.temperature{*}.rollup(avg, 60)",
    "temperature_max": "max:ddpy.temperature{*}.rollup(max, 60)",
    "multi_sum": "sum:ddpy.multi.a{*}.rollup(sum, 60) + sum:ddpy.multi.b{*}.rollup(sum, 60)",
    "now": "sum:ddpy.now{host:web-1}.rollup(sum, 60)",
    "normalised_name": "avg:ddpy.odd_name_x{*}.rollup(avg, 60)",
    "latency_count": "count:ddpy.latency{*}.rollup(60)",
    "latency_p50": "p50:ddpy.latency{*}.rollup(60)",
    "latency_p99": "p99:ddpy.latency{*}.rollup(60)",
    "latency_max": "max:ddpy.latency{*}.rollup(60)",
    "latency_avg": "avg:ddpy.latency{*}.rollup(60)",
    "latency_max_by_host": "max:ddpy.latency{*} by {host}.rollup(60)",
    "missing_metric": "avg:ddpy.never_sent{*}",
}
answers = {}
for name, query in queries.items():
    body, raw = api.Metric.query(start=t0 - 60, end=now + 60, query=query)
    assert raw.status_code == 200, (name, raw.status_code, body)
    answers[name] = body

# A syntax error is an ApiError carrying the server's {"errors": [...]}.
try:
    api.Metric.query(start=t0 - 60, end=now + 60, query="avg:ddpy.requests{env:compat")
except ApiError as error:
    syntax_error = error.args[0]
else:
    sys.exit("a query with an unclosed scope was accepted")

listed, listed_raw = api.Metric.list(now - 3600)
assert listed_raw.status_code == 200, (listed_raw.status_code, listed)

print(json.dumps({
    "t0": t0,
    "event": event_body,
    "second_event": second_body,
    "queries": answers,
    "syntax_error": syntax_error,
    "list": listed,
}))
