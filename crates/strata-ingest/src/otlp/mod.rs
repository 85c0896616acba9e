//! OTLP/HTTP decoders (logs, metrics, traces; protobuf and JSON). Placeholder
//! until the issue 6 work lands.
