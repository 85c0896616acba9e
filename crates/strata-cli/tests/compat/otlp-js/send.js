// Drives Strata's OTLP/HTTP intake (issue 6) with the real OpenTelemetry
// JavaScript exporters, which send OTLP/JSON (Content-Type: application/json,
// hex trace/span ids, 64-bit integers as strings):
//
// - spans (@opentelemetry/exporter-trace-otlp-http, BasicTracerProvider):
//   a SERVER root and a CLIENT child in ERROR status, with attributes of every
//   scalar type and an array; header Authorization: Bearer;
// - logs (@opentelemetry/exporter-logs-otlp-http, LoggerProvider): a WARN
//   record inside the child span (so it carries the span's ids), an ERROR
//   record, and an INFO record without a span; header DD-API-KEY.
//
// Usage: node send.js URL API_KEY
//
// Every export result must be SUCCESS (a wrapper records them). Prints one
// JSON object on the last line: the ids tests/otlp_compat.rs reads back.
'use strict';

const api = require('@opentelemetry/api');
const { SeverityNumber } = require('@opentelemetry/api-logs');
const { OTLPTraceExporter } = require('@opentelemetry/exporter-trace-otlp-http');
const { OTLPLogExporter } = require('@opentelemetry/exporter-logs-otlp-http');
const { resourceFromAttributes } = require('@opentelemetry/resources');
const { BasicTracerProvider, SimpleSpanProcessor } = require('@opentelemetry/sdk-trace-base');
const { LoggerProvider, SimpleLogRecordProcessor } = require('@opentelemetry/sdk-logs');

const [url, apiKey] = process.argv.slice(2);
if (!url || !apiKey) {
  console.error('usage: node send.js URL API_KEY');
  process.exit(2);
}
const base = url.replace(/\/$/, '');
const SERVICE = 'otel-js-compat';
const HOST = 'js-host-1';
const ENV = 'compat-js';
const resource = resourceFromAttributes({
  'service.name': SERVICE,
  'host.name': HOST,
  'deployment.environment': ENV,
});

const results = [];
// Wraps an exporter so that each export's result code is recorded.
function recording(name, exporter) {
  const inner = exporter.export.bind(exporter);
  exporter.export = (items, done) =>
    inner(items, (result) => {
      results.push([name, result.code === 0 ? 'SUCCESS' : `FAILURE: ${result.error}`]);
      done(result);
    });
  return exporter;
}

async function main() {
  const spanExporter = recording('traces', new OTLPTraceExporter({
    url: `${base}/v1/traces`,
    headers: { Authorization: `Bearer ${apiKey}` },
  }));
  const tracerProvider = new BasicTracerProvider({
    resource,
    spanProcessors: [new SimpleSpanProcessor(spanExporter)],
  });
  const tracer = tracerProvider.getTracer('strata.compat.js', '0.1');

  const logExporter = recording('logs', new OTLPLogExporter({
    url: `${base}/v1/logs`,
    headers: { 'DD-API-KEY': apiKey },
  }));
  const loggerProvider = new LoggerProvider({
    resource,
    processors: [new SimpleLogRecordProcessor({ exporter: logExporter })],
  });
  const logger = loggerProvider.getLogger('strata.compat.js', '0.1');

  const root = tracer.startSpan('js-request', {
    kind: api.SpanKind.SERVER,
    attributes: { 'js.count': 42, 'js.flag': true, 'js.ratio': 0.5, 'js.label': 'alpha' },
  });
  const rootContext = api.trace.setSpan(api.context.active(), root);
  const child = tracer.startSpan('js-db-query', {
    kind: api.SpanKind.CLIENT,
    attributes: { 'db.system': 'postgresql', 'js.rows': 7, 'js.tags': ['a', 'b'] },
  }, rootContext);
  const childContext = api.trace.setSpan(rootContext, child);

  logger.emit({
    severityNumber: SeverityNumber.WARN,
    severityText: 'WARN',
    body: 'js slow query',
    attributes: { 'query.rows': 7, 'query.table': 'orders', 'query.cached': false },
    context: childContext,
  });
  logger.emit({
    severityNumber: SeverityNumber.ERROR,
    severityText: 'ERROR',
    body: 'js query failed',
    attributes: { 'error.kind': 'timeout' },
    context: childContext,
  });
  logger.emit({
    severityNumber: SeverityNumber.INFO,
    severityText: 'INFO',
    body: 'js started',
    attributes: { 'js.version': 20 },
  });

  child.setStatus({ code: api.SpanStatusCode.ERROR, message: 'timeout' });
  child.end();
  root.end();

  await tracerProvider.forceFlush();
  await loggerProvider.forceFlush();
  await tracerProvider.shutdown();
  await loggerProvider.shutdown();

  const failed = results.filter(([, r]) => r !== 'SUCCESS');
  if (failed.length > 0 || results.length === 0) {
    console.error(`exports failed: ${JSON.stringify(results)}`);
    process.exit(1);
  }
  const rootIds = root.spanContext();
  const childIds = child.spanContext();
  console.log(JSON.stringify({
    service: SERVICE,
    host: HOST,
    env: ENV,
    trace_id: rootIds.traceId,
    root_span_id: rootIds.spanId,
    child_span_id: childIds.spanId,
    exports: results,
  }));
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
