"""Drives Strata's metrics API with the real `datadog-api-client` package,
issue 5. The client deserialises every answer into its generated models and
checks their types, so this proves our bodies have Datadog's shapes:

- v2 MetricsApi.submit_metrics (JSON MetricPayload, integer MetricIntakeType,
  host as a MetricResource) plain and with Content-Encoding deflate, gzip and
  zstd1 (the client compresses zstd1 with the `zstandard` package) →
  IntakePayloadAccepted;
- v1 MetricsApi.submit_metrics (`text/json`), submit_distribution_points,
  EventsApi.create_event → EventCreateResponse, ServiceChecksApi.submit_service_check;
- v1 MetricsApi.query_metrics → MetricsQueryResponse / MetricsQueryMetadata /
  Point, and list_active_metrics → MetricsListResponse;
- errors surface as ApiException with our status (400 invalid name, 403 bad
  key, 400 query syntax).

Usage: datadog_api_client_metrics.py URL API_KEY APP_KEY

Asserts the values it reads back, then prints a JSON summary on the last line
of stdout for the Rust test (tests/metrics_compat.rs). Exits non-zero on any
failure.
"""
import json
import sys
import time

from datadog_api_client import ApiClient, Configuration
from datadog_api_client.exceptions import ApiException
from datadog_api_client.v1.api.events_api import EventsApi
from datadog_api_client.v1.api.metrics_api import MetricsApi as MetricsApiV1
from datadog_api_client.v1.api.service_checks_api import ServiceChecksApi
from datadog_api_client.v1.model.distribution_point import DistributionPoint
from datadog_api_client.v1.model.distribution_points_payload import DistributionPointsPayload
from datadog_api_client.v1.model.distribution_points_series import DistributionPointsSeries
from datadog_api_client.v1.model.event_alert_type import EventAlertType
from datadog_api_client.v1.model.event_create_request import EventCreateRequest
from datadog_api_client.v1.model.event_create_response import EventCreateResponse
from datadog_api_client.v1.model.intake_payload_accepted import IntakePayloadAccepted as V1Accepted
from datadog_api_client.v1.model.metrics_list_response import MetricsListResponse
from datadog_api_client.v1.model.metrics_payload import MetricsPayload
from datadog_api_client.v1.model.metrics_query_response import MetricsQueryResponse
from datadog_api_client.v1.model.point import Point
from datadog_api_client.v1.model.series import Series
from datadog_api_client.v1.model.service_check import ServiceCheck
from datadog_api_client.v1.model.service_check_status import ServiceCheckStatus
from datadog_api_client.v1.model.service_checks import ServiceChecks
from datadog_api_client.v2.api.metrics_api import MetricsApi
from datadog_api_client.v2.model.intake_payload_accepted import IntakePayloadAccepted
from datadog_api_client.v2.model.metric_content_encoding import MetricContentEncoding
from datadog_api_client.v2.model.metric_intake_type import MetricIntakeType
from datadog_api_client.v2.model.metric_payload import MetricPayload
from datadog_api_client.v2.model.metric_point import MetricPoint
from datadog_api_client.v2.model.metric_resource import MetricResource
from datadog_api_client.v2.model.metric_series import MetricSeries

url, api_key, app_key = sys.argv[1], sys.argv[2], sys.argv[3]
now = int(time.time())
# A minute boundary two minutes back: every query below uses from = t0 and a
# 60 s rollup, so each series has exactly one bucket, starting at t0.
t0 = now - now % 60 - 120


def host(name):
    return [MetricResource(name=name, type="host")]


def series(metric, kind, points, **extra):
    return MetricSeries(metric=metric, type=kind,
                        points=[MetricPoint(timestamp=ts, value=float(v)) for ts, v in points],
                        **extra)


def error_body(error):
    """The client gives the parsed JSON body (or the raw text)."""
    return error.body if isinstance(error.body, dict) else json.loads(error.body)


def accepted_v2(result):
    assert isinstance(result, IntakePayloadAccepted), type(result)
    assert result.errors == [], result
    return result


configuration = Configuration(host=url)
configuration.api_key["apiKeyAuth"] = api_key
configuration.api_key["appKeyAuth"] = app_key
summary = {"t0": t0}
with ApiClient(configuration) as client:
    v2 = MetricsApi(client)
    v1 = MetricsApiV1(client)

    # v2 JSON, every intake type.
    accepted_v2(v2.submit_metrics(body=MetricPayload(series=[
        series("apiclient.v2.gauge", MetricIntakeType.GAUGE, [(t0, 1.5), (t0 + 30, 2.5)],
               resources=host("h1"), tags=["env:compat"], unit="byte"),
        series("apiclient.v2.count", MetricIntakeType.COUNT, [(t0, 4), (t0 + 10, 6)],
               resources=host("h1"), tags=["env:compat"], interval=10),
        series("apiclient.v2.rate", MetricIntakeType.RATE, [(t0, 0.5)],
               resources=host("h2"), tags=["env:compat"], interval=10),
        series("apiclient.v2.untyped", MetricIntakeType.UNSPECIFIED, [(t0, 9)],
               resources=host("h1")),
    ])))
    # The same count series sent with each Content-Encoding the client knows.
    for value, encoding in enumerate([MetricContentEncoding.DEFLATE, MetricContentEncoding.GZIP,
                                      MetricContentEncoding.ZSTD1], start=1):
        accepted_v2(v2.submit_metrics(body=MetricPayload(series=[
            series("apiclient.v2.encoded", MetricIntakeType.COUNT, [(t0 + value, value)],
                   resources=host("h1"), tags=["encoding:%s" % encoding.value]),
        ]), content_encoding=encoding))

    # v1 series (text/json), distribution points, event, service check.
    result = v1.submit_metrics(body=MetricsPayload(series=[
        Series(metric="apiclient.v1.gauge", type="gauge", points=[Point([float(t0), 3.25])],
               host="h1", tags=["env:compat"]),
    ]))
    assert isinstance(result, V1Accepted) and result.status == "ok", result
    result = v1.submit_distribution_points(body=DistributionPointsPayload(series=[
        DistributionPointsSeries(metric="apiclient.v1.dist", host="h1", tags=["env:compat"],
                                 points=[DistributionPoint([float(t0), [1.0, 2.0, 3.0, 4.0, 100.0]])]),
    ]))
    assert isinstance(result, V1Accepted) and result.status == "ok", result
    event = EventsApi(client).create_event(body=EventCreateRequest(
        title="api client event", text="from datadog-api-client", tags=["env:compat"],
        alert_type=EventAlertType.WARNING, host="h1"))
    assert isinstance(event, EventCreateResponse), type(event)
    assert event.status == "ok", event
    assert event.event.id > 0 and event.event.id_str == str(event.event.id), event
    assert event.event.title == "api client event", event
    summary["event_id"] = event.event.id
    result = ServiceChecksApi(client).submit_service_check(body=ServiceChecks([
        ServiceCheck(check="apiclient.check", host_name="h1", status=ServiceCheckStatus.WARNING,
                     tags=["env:compat"], message="slow"),
    ]))
    assert isinstance(result, V1Accepted) and result.status == "ok", result

    # Read back through the v1 query API; the models validate every field.
    def query(text):
        answer = v1.query_metrics(_from=t0, to=now + 60, query=text)
        assert isinstance(answer, MetricsQueryResponse), type(answer)
        assert answer.status == "ok" and answer.res_type == "time_series", answer
        assert answer.query == text, answer.query
        return answer

    def single(text):
        answer = query(text)
        assert len(answer.series) == 1, answer
        s = answer.series[0]
        assert isinstance(s.interval, int) and s.interval == 60, s
        assert s.length == len(s.pointlist) == 1, s
        point = s.pointlist[0]
        assert isinstance(point, Point), type(point)
        ts, value = point.value
        assert int(ts) == t0 * 1000, (ts, t0)
        assert s.start == t0 * 1000, s
        return value

    values = {
        "v2_gauge_avg": single("avg:apiclient.v2.gauge{env:compat}.rollup(avg, 60)"),
        "v2_count_sum": single("sum:apiclient.v2.count{*}.rollup(sum, 60)"),
        "v2_rate_as_count": single("sum:apiclient.v2.rate{*}.rollup(sum, 60).as_count()"),
        "v2_untyped": single("avg:apiclient.v2.untyped{host:h1}.rollup(avg, 60)"),
        "v1_gauge": single("avg:apiclient.v1.gauge{*}.rollup(avg, 60)"),
        "v1_dist_max": single("max:apiclient.v1.dist{*}.rollup(60)"),
        "v1_dist_p50": single("p50:apiclient.v1.dist{*}.rollup(60)"),
    }
    assert values["v2_gauge_avg"] == 2.0, values
    assert values["v2_count_sum"] == 10.0, values
    assert values["v2_rate_as_count"] == 5.0, values
    assert values["v2_untyped"] == 9.0, values
    assert values["v1_gauge"] == 3.25, values
    assert values["v1_dist_max"] == 100.0, values
    assert abs(values["v1_dist_p50"] - 3.0) <= 3.0 * 0.025, values

    grouped = query("sum:apiclient.v2.encoded{*} by {encoding}.rollup(sum, 60)")
    by_encoding = {}
    for s in grouped.series:
        assert len(s.tag_set) == 1, s
        by_encoding[s.tag_set[0]] = s.pointlist[0].value[1]
        assert s.scope == s.tag_set[0], s
        assert s.aggr == "sum", s
    assert by_encoding == {"encoding:deflate": 1.0, "encoding:gzip": 2.0, "encoding:zstd1": 3.0}, by_encoding
    assert grouped.group_by == ["encoding"], grouped.group_by
    values["by_encoding"] = by_encoding

    empty = query("avg:apiclient.never.sent{*}")
    assert empty.series == [], empty

    listed = v1.list_active_metrics(_from=now - 3600)
    assert isinstance(listed, MetricsListResponse), type(listed)
    for name in ("apiclient.v2.gauge", "apiclient.v2.encoded", "apiclient.v1.dist"):
        assert name in listed.metrics, listed
    summary["values"] = values

    # Errors the client surfaces.
    try:
        v2.submit_metrics(body=MetricPayload(series=[
            series("1234", MetricIntakeType.GAUGE, [(t0, 1)])]))
    except ApiException as error:
        assert error.status == 400, error.status
        assert error_body(error)["errors"], error.body
    else:
        sys.exit("an invalid metric name was accepted")
    try:
        v1.query_metrics(_from=t0, to=now, query="avg:apiclient.v2.gauge{env:compat")
    except ApiException as error:
        assert error.status == 400, error.status
        summary["query_error"] = error_body(error)["errors"][0]
    else:
        sys.exit("a bad query was accepted")

bad = Configuration(host=url)
bad.api_key["apiKeyAuth"] = "0" * 32
with ApiClient(bad) as bad_client:
    try:
        MetricsApi(bad_client).submit_metrics(body=MetricPayload(series=[
            series("apiclient.forbidden", MetricIntakeType.GAUGE, [(t0, 1)])]))
    except ApiException as error:
        assert error.status == 403, error.status
    else:
        sys.exit("a bad key was accepted")

print(json.dumps(summary))
