"""Drives Strata's OTLP/HTTP intake (issue 6) with the real OpenTelemetry Python
SDK and its protobuf exporters (opentelemetry-exporter-otlp-proto-http):

- logs through the standard `logging` module (LoggingHandler, LoggerProvider,
  BatchLogRecordProcessor), some inside a span so that they carry its
  trace_id/span_id, with `extra` attributes and an exception; header DD-API-KEY;
- traces (TracerProvider, BatchSpanProcessor): a SERVER root span with a CLIENT
  child in ERROR status and an INTERNAL child with OK status, plus a second
  trace whose single span lasts exactly 1.5 s (explicit start/end times);
  header Authorization: Bearer;
- metrics (MeterProvider, PeriodicExportingMetricReader flushed by hand twice):
  a delta-temporality provider (Counter, Histogram; gzip-compressed bodies,
  Authorization: Bearer) and a default cumulative provider (Counter,
  UpDownCounter, ObservableGauge; DD-API-KEY), so that the server's
  cumulative-to-delta conversion sees two points per series;
- one log export with a wrong key, which the exporter must report as failed.

Usage: otel_python.py URL API_KEY

Every export's result is recorded (a wrapper around each exporter) and must be
SUCCESS. Prints one JSON object on the last line of stdout: the ids and values
that tests/otlp_compat.rs reads back through the query APIs. Exits non-zero
when an export fails.
"""
import json
import logging
import sys
import time

from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.metrics import CallbackOptions, Observation
from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler
from opentelemetry.sdk._logs.export import BatchLogRecordProcessor, LogExportResult
from opentelemetry.sdk.metrics import (
    Counter,
    Histogram,
    MeterProvider,
    ObservableCounter,
    ObservableGauge,
    ObservableUpDownCounter,
    UpDownCounter,
)
from opentelemetry.sdk.metrics.export import (
    AggregationTemporality,
    MetricExportResult,
    PeriodicExportingMetricReader,
)
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExportResult
from opentelemetry.trace import SpanKind, Status, StatusCode

url, api_key = sys.argv[1].rstrip("/"), sys.argv[2]
SERVICE, HOST, ENV = "otel-py-compat", "py-host-1", "compat-py"
resource = Resource.create({
    "service.name": SERVICE,
    "host.name": HOST,
    "deployment.environment": ENV,
    "service.version": "1.2.3",
})
DD_KEY = {"DD-API-KEY": api_key}
BEARER = {"Authorization": f"Bearer {api_key}"}
results = []  # (exporter, result name) of every export call


class Recording:
    """Wraps an exporter, recording the result of each export."""

    def __init__(self, name, inner):
        self._name, self._inner = name, inner

    def export(self, batch, *args, **kwargs):
        result = self._inner.export(batch, *args, **kwargs)
        results.append((self._name, result.name))
        return result

    def __getattr__(self, attr):
        return getattr(self._inner, attr)


def hex_ids(span):
    context = span.get_span_context()
    return format(context.trace_id, "032x"), format(context.span_id, "016x")


t0 = int(time.time())

# --- traces (Bearer) -------------------------------------------------------
span_exporter = OTLPSpanExporter(endpoint=f"{url}/v1/traces", headers=BEARER, timeout=10)
tracer_provider = TracerProvider(resource=resource)
tracer_provider.add_span_processor(BatchSpanProcessor(Recording("traces", span_exporter)))
tracer = tracer_provider.get_tracer("strata.compat", "0.1")

# --- logs (DD-API-KEY) through the logging module ---------------------------
log_exporter = OTLPLogExporter(endpoint=f"{url}/v1/logs", headers=DD_KEY, timeout=10)
logger_provider = LoggerProvider(resource=resource)
logger_provider.add_log_record_processor(BatchLogRecordProcessor(Recording("logs", log_exporter)))
handler = LoggingHandler(level=logging.DEBUG, logger_provider=logger_provider)
log = logging.getLogger("strata.compat.py")
log.setLevel(logging.DEBUG)
log.propagate = False
log.addHandler(handler)

with tracer.start_as_current_span(
    "checkout",
    kind=SpanKind.SERVER,
    attributes={"cart.items": 3, "customer.tier": "gold", "feature.enabled": True, "ratio": 0.25},
) as root:
    trace_id, root_span_id = hex_ids(root)
    log.warning("disk almost full on %s", "sda1",
                extra={"disk_device": "sda1", "usage_pct": 91.5, "retries": 3, "cached": False,
                       "order.id": "A-17"})
    with tracer.start_as_current_span(
        "charge-card", kind=SpanKind.CLIENT,
        attributes={"payment.provider": "acme", "amount": 12.5},
    ) as child:
        _, child_span_id = hex_ids(child)
        try:
            raise ValueError("card declined")
        except ValueError:
            log.exception("payment failed for order %s", "A-17", extra={"order.id": "A-17"})
        child.set_status(Status(StatusCode.ERROR, "card declined"))
    with tracer.start_as_current_span("render", attributes={"template": "cart.html"}) as ok_child:
        _, ok_span_id = hex_ids(ok_child)
        ok_child.set_status(Status(StatusCode.OK))
log.info("cache warmed", extra={"entries": 128})  # outside any span: no trace id

# A second trace: one span of exactly 1.5 s, ended in the past.
long_start = time.time_ns() - 5_000_000_000
long_span = tracer.start_span("nightly-batch", kind=SpanKind.INTERNAL, start_time=long_start,
                              attributes={"batch.size": 5000})
long_trace_id, long_span_id = hex_ids(long_span)
long_span.end(end_time=long_start + 1_500_000_000)

assert tracer_provider.force_flush(10_000), "span flush timed out"
assert logger_provider.force_flush(10_000), "log flush timed out"

# A wrong key: the exporter reports the 403 as a failed export.
bad_log_exporter = OTLPLogExporter(endpoint=f"{url}/v1/logs",
                                   headers={"DD-API-KEY": "0" * 32}, timeout=5)
bad_provider = LoggerProvider(resource=resource)
bad_results = []


class BadRecording(Recording):
    def export(self, batch, *args, **kwargs):
        result = self._inner.export(batch, *args, **kwargs)
        bad_results.append(result.name)
        return result


bad_provider.add_log_record_processor(BatchLogRecordProcessor(BadRecording("bad", bad_log_exporter)))
bad_handler = LoggingHandler(level=logging.DEBUG, logger_provider=bad_provider)
bad_log = logging.getLogger("strata.compat.py.bad")
bad_log.propagate = False
bad_log.addHandler(bad_handler)
bad_log.error("must not be stored: wrong key")
bad_provider.force_flush(10_000)
bad_provider.shutdown()

# --- metrics ----------------------------------------------------------------
NEVER = 3_600_000  # ms: the readers export only when flushed by hand
delta = {
    Counter: AggregationTemporality.DELTA,
    UpDownCounter: AggregationTemporality.CUMULATIVE,
    Histogram: AggregationTemporality.DELTA,
    ObservableCounter: AggregationTemporality.DELTA,
    ObservableUpDownCounter: AggregationTemporality.CUMULATIVE,
    ObservableGauge: AggregationTemporality.CUMULATIVE,
}
delta_exporter = OTLPMetricExporter(endpoint=f"{url}/v1/metrics", headers=BEARER, timeout=10,
                                    compression=Compression.Gzip, preferred_temporality=delta)
delta_reader = PeriodicExportingMetricReader(Recording("metrics-delta-gzip", delta_exporter),
                                             export_interval_millis=NEVER)
# shutdown_on_exit=False and no shutdown(): a reader collects once more when
# shut down, and the test expects exactly two collections.
delta_provider = MeterProvider(resource=resource, metric_readers=[delta_reader],
                               shutdown_on_exit=False)
delta_meter = delta_provider.get_meter("strata.compat.delta")

cumulative_exporter = OTLPMetricExporter(endpoint=f"{url}/v1/metrics", headers=DD_KEY, timeout=10)
cumulative_reader = PeriodicExportingMetricReader(Recording("metrics-cumulative", cumulative_exporter),
                                                  export_interval_millis=NEVER)
cumulative_provider = MeterProvider(resource=resource, metric_readers=[cumulative_reader],
                                    shutdown_on_exit=False)
cumulative_meter = cumulative_provider.get_meter("strata.compat.cumulative")

requests = delta_meter.create_counter("otelpy.requests", unit="1", description="delta counter")
latency = delta_meter.create_histogram("otelpy.latency", unit="ms", description="delta histogram")
jobs = cumulative_meter.create_counter("otelpy.jobs", description="cumulative counter")
queue = cumulative_meter.create_up_down_counter("otelpy.queue_depth", description="up-down counter")
temperatures = iter([21.5, 23.0] + [23.0] * 10)


def observe_temperature(options: CallbackOptions):
    yield Observation(next(temperatures), {"room": "lab"})


cumulative_meter.create_observable_gauge("otelpy.temperature", callbacks=[observe_temperature])

# First collection.
requests.add(3, {"endpoint": "home"})
requests.add(4, {"endpoint": "cart"})
latency_values = [2.0] * 20 + [30.0] * 20 + [60.0] * 21 + [200.0] * 20 + [900.0] * 20
for value in latency_values:
    latency.record(value, {"endpoint": "home"})
jobs.add(5, {"queue": "emails"})
queue.add(5)
queue.add(-2)
assert delta_provider.force_flush(10_000), "delta metrics flush 1 timed out"
assert cumulative_provider.force_flush(10_000), "cumulative metrics flush 1 timed out"
time.sleep(1.1)  # a later time_unix_nano for every second point

# Second collection.
requests.add(10, {"endpoint": "home"})
jobs.add(7, {"queue": "emails"})
queue.add(4)
assert delta_provider.force_flush(10_000), "delta metrics flush 2 timed out"
assert cumulative_provider.force_flush(10_000), "cumulative metrics flush 2 timed out"

tracer_provider.shutdown()
logger_provider.shutdown()

failed = [(name, result) for name, result in results if result != "SUCCESS"]
if failed:
    sys.exit(f"exports failed: {failed} (all: {results})")
exported = sorted({name for name, _ in results})
for name in ("logs", "traces", "metrics-delta-gzip", "metrics-cumulative"):
    assert name in exported, f"nothing was exported by {name}: {results}"

print(json.dumps({
    "t0": t0,
    "service": SERVICE,
    "host": HOST,
    "env": ENV,
    "trace_id": trace_id,
    "root_span_id": root_span_id,
    "child_span_id": child_span_id,
    "ok_span_id": ok_span_id,
    "long_trace_id": long_trace_id,
    "long_span_id": long_span_id,
    "long_start_ns": long_start,
    "latency_values": latency_values,
    "exports": results,
    "bad_key_results": bad_results,
}))
