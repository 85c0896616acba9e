//! The Elasticsearch intake decoder: `_bulk` NDJSON bodies ([`decode_bulk`])
//! and single documents ([`decode_document`]) into [`Event`]s, one
//! [`BulkItem`] per action, and the Elasticsearch reply shapes
//! ([`bulk_response`], [`item_json`], [`error_json`]).
//!
//! A body is either refused whole ([`BulkError`]: framing, an unknown action,
//! an action without its source line, a limit) or decoded item by item: an
//! `index` or `create` whose source is not a JSON object, or that names no
//! valid index, fails alone (status 400 in its item) while the others are
//! stored, as Elasticsearch does. `delete` and `update` are answered per
//! item with an error: Strata is append-only.
//!
//! Each source document is flattened to dotted paths first (nested objects
//! and dotted keys are the same thing), then the ECS fields are mapped:
//!
//! | document path                          | event field                   |
//! |----------------------------------------|-------------------------------|
//! | `@timestamp` (RFC 3339 or epoch ms)    | timestamp (missing: now)      |
//! | `message`                              | message (truncated)           |
//! | `log.level`, then `level`              | status ([`Status::normalize`])|
//! | `host.name`, `host.hostname`, `host`   | host                          |
//! | `service.name`                         | service                       |
//! | `event.dataset`, `data_stream.dataset` | source                        |
//! | `trace.id`                             | trace id                      |
//! | the index (`_index`, else the path)    | tag `index:<name>`            |
//! | the action's `_id`                     | attribute `_id`               |
//!
//! Everything else stays an attribute. A mapped path whose value is not a
//! scalar (or an `@timestamp` that does not parse) stays an attribute too.

use std::io::Write as _;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, Visitor};
use serde_json::{json, Value};
use strata_types::{event_id, AttrValue, Event, Status};

use crate::flatten::flatten_object;
use crate::timestamp::parse_timestamp_ns;
use crate::{ErrorKind, IngestError};

/// Longest `_id` Elasticsearch accepts, in bytes.
pub const MAX_ID_BYTES: usize = 512;
/// Longest index name Elasticsearch accepts, in bytes.
pub const MAX_INDEX_BYTES: usize = 255;

/// The error type of a request over a size or count limit.
const TOO_LARGE: &str = "content_too_long_exception";

/// A bulk action.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpType {
    /// `index`: stored.
    Index,
    /// `create`: stored (no conflict check: `_id` is not a key).
    Create,
    /// `update`: refused per item.
    Update,
    /// `delete`: refused per item.
    Delete,
}

impl OpType {
    /// The action's name on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            OpType::Index => "index",
            OpType::Create => "create",
            OpType::Update => "update",
            OpType::Delete => "delete",
        }
    }

    fn parse(name: &str) -> Option<OpType> {
        match name {
            "index" => Some(OpType::Index),
            "create" => Some(OpType::Create),
            "update" => Some(OpType::Update),
            "delete" => Some(OpType::Delete),
            _ => None,
        }
    }
}

/// Everything about a request that shapes its events besides the body.
#[derive(Debug, Clone)]
pub struct BulkRequest {
    /// The index named by the path (`/{index}/_bulk`, `/{index}/_doc`).
    pub default_index: Option<String>,
    /// Receive time, used for documents without a usable `@timestamp`.
    pub now_ns: i64,
    /// Messages longer than this are truncated (at a character boundary).
    pub max_log_bytes: usize,
    /// More actions than this in one body is a 413.
    pub max_items: usize,
    /// Decoded events may hold at most this many bytes (`Event::heap_size`);
    /// more is a 413.
    pub max_decoded_bytes: usize,
}

/// An Elasticsearch error object: `{"type": …, "reason": …}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EsError {
    /// The exception name, e.g. `document_parsing_exception`.
    pub error_type: &'static str,
    /// What is wrong, for the client.
    pub reason: String,
}

/// A request refused whole: nothing of it is stored.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", .error.reason)]
pub struct BulkError {
    /// The class of failure (the server maps it to a status).
    pub kind: ErrorKind,
    /// The Elasticsearch error to answer.
    pub error: EsError,
}

impl BulkError {
    fn new(kind: ErrorKind, error_type: &'static str, reason: impl Into<String>) -> BulkError {
        BulkError {
            kind,
            error: EsError {
                error_type,
                reason: reason.into(),
            },
        }
    }

    fn illegal(reason: impl Into<String>) -> BulkError {
        BulkError::new(ErrorKind::BadRequest, "illegal_argument_exception", reason)
    }
}

impl From<IngestError> for BulkError {
    /// Decompression errors (a corrupt or oversized body).
    fn from(error: IngestError) -> BulkError {
        let error_type = match error.kind {
            ErrorKind::BadRequest => "parse_exception",
            ErrorKind::TooLarge => TOO_LARGE,
            ErrorKind::Unsupported => "media_type_header_exception",
        };
        BulkError::new(error.kind, error_type, error.detail)
    }
}

/// What became of one action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Stored as the event at this position of [`DecodedBulk::events`].
    Stored(u32),
    /// Refused, with its item status (400) and error.
    Failed {
        /// The item's HTTP-like status.
        status: u16,
        /// Why.
        error: EsError,
    },
}

/// One action of a request, in request order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BulkItem {
    /// The action.
    pub op: OpType,
    /// The target index (the action's `_index`, else the path's), if any.
    pub index: Option<String>,
    /// The client's `_id`, if it gave one.
    pub id: Option<String>,
    /// Stored or refused.
    pub outcome: Outcome,
}

/// A decoded request: its items and the events of the stored ones.
#[derive(Debug, Default)]
pub struct DecodedBulk {
    /// One per action, in request order.
    pub items: Vec<BulkItem>,
    /// The stored items' events, in request order.
    pub events: Vec<Event>,
    /// Sum of the events' [`Event::heap_size`].
    pub heap_bytes: u64,
}

/// Decodes an uncompressed `_bulk` body: NDJSON action lines, each `index`,
/// `create` and `update` followed by its source line. Blank lines between
/// actions are skipped and the final newline is optional.
pub fn decode_bulk(body: &[u8], request: &BulkRequest) -> Result<DecodedBulk, BulkError> {
    let mut bulk = Bulk::new(request);
    // Sized up front: growing these by doubling copies them over and over.
    let newlines = body.iter().filter(|&&b| b == b'\n').count();
    let actions = (newlines / 2 + 1).min(request.max_items);
    bulk.out.items.reserve(actions);
    bulk.out.events.reserve(actions);
    let mut lines = Lines {
        rest: body,
        number: 0,
    };
    while let Some((number, line)) = lines.next() {
        if is_blank(line) {
            continue;
        }
        if bulk.out.items.len() >= request.max_items {
            let max = request.max_items;
            return Err(BulkError::new(
                ErrorKind::TooLarge,
                TOO_LARGE,
                format!("more than {max} actions in one bulk request; the limit is {max}"),
            ));
        }
        let action = parse_action(line, number)?;
        match action.op {
            OpType::Delete => bulk.refuse_unsupported(action),
            OpType::Update => {
                source_line(&mut lines, number, action.op)?;
                bulk.refuse_unsupported(action);
            }
            OpType::Index | OpType::Create => {
                let source = source_line(&mut lines, number, action.op)?;
                bulk.document(action, source)?;
            }
        }
    }
    if bulk.out.items.is_empty() {
        return Err(BulkError::new(
            ErrorKind::BadRequest,
            "action_request_validation_exception",
            "Validation Failed: 1: no requests added;",
        ));
    }
    Ok(bulk.out)
}

/// Decodes the body of `POST /{index}/_doc`, `PUT /{index}/_doc/{id}` or
/// `/{index}/_create/{id}` (`op` is `Index` or `Create`): one JSON document,
/// into one item (which may have failed, e.g. invalid JSON).
pub fn decode_document(
    body: &[u8],
    request: &BulkRequest,
    op: OpType,
    id: Option<&str>,
) -> Result<DecodedBulk, BulkError> {
    if is_blank(body) {
        return Err(BulkError::new(
            ErrorKind::BadRequest,
            "parse_exception",
            "request body is required",
        ));
    }
    let mut bulk = Bulk::new(request);
    let action = Action {
        op,
        index: None,
        id: id.map(str::to_string),
    };
    bulk.document(action, body)?;
    Ok(bulk.out)
}

/// `{"took","errors","items":[{"<op>": {…}}]}`: the `_bulk` reply, as JSON
/// text (written item by item straight into the output: a reply may have
/// many items). `seq` is the WAL sequence number of the stored events
/// (generated `_id`s are their event ids); `None` when nothing was stored.
pub fn bulk_response(items: &[BulkItem], seq: Option<u64>, took_ms: u64) -> Vec<u8> {
    let errors = items
        .iter()
        .any(|item| matches!(item.outcome, Outcome::Failed { .. }));
    // A stored item's entry is ~175 bytes plus its index and id.
    let estimate: usize = items
        .iter()
        .map(|item| {
            let text =
                item.index.as_deref().map_or(0, str::len) + item.id.as_deref().map_or(24, str::len);
            match &item.outcome {
                Outcome::Stored(_) => 184 + text,
                Outcome::Failed { error, .. } => 112 + text + error.reason.len(),
            }
        })
        .sum();
    let mut out = Vec::with_capacity(48 + estimate);
    // Writing to a `Vec` cannot fail.
    let _ = write!(out, "{{\"took\":{took_ms},\"errors\":{errors},\"items\":[");
    for (n, item) in items.iter().enumerate() {
        if n > 0 {
            out.push(b',');
        }
        out.extend_from_slice(b"{\"");
        out.extend_from_slice(item.op.as_str().as_bytes());
        out.extend_from_slice(b"\":");
        write_item(&mut out, item, seq, true);
        out.push(b'}');
    }
    out.extend_from_slice(b"]}");
    out
}

/// One item's result object: `{"_index","_id","_version","result",
/// "_shards","_seq_no","_primary_term"}` (plus `"status": 201` inside a bulk
/// reply, the single-document reply has none), or for a refused item
/// `{"_index","_id","status","error"}`.
pub fn item_json(item: &BulkItem, seq: Option<u64>, with_status: bool) -> Value {
    let mut out = Vec::with_capacity(256);
    write_item(&mut out, item, seq, with_status);
    // `write_item` writes valid JSON.
    serde_json::from_slice(&out).unwrap_or(Value::Null)
}

/// Writes [`item_json`]'s object as JSON text.
fn write_item(out: &mut Vec<u8>, item: &BulkItem, seq: Option<u64>, with_status: bool) {
    out.extend_from_slice(b"{\"_index\":");
    write_opt_str(out, item.index.as_deref());
    out.extend_from_slice(b",\"_id\":");
    // Writing to a `Vec` cannot fail.
    match &item.outcome {
        Outcome::Stored(position) => {
            let seq = seq.unwrap_or(0);
            match item.id.as_deref() {
                Some(id) => write_str(out, id),
                None => {
                    out.push(b'"');
                    out.extend_from_slice(event_id(seq, *position).as_bytes());
                    out.push(b'"');
                }
            }
            let seq_no = seq
                .saturating_mul(1 << 24)
                .saturating_add(u64::from(*position));
            let _ = write!(
                out,
                ",\"_version\":1,\"result\":\"created\",\
                 \"_shards\":{{\"total\":1,\"successful\":1,\"failed\":0}},\
                 \"_seq_no\":{seq_no},\"_primary_term\":1"
            );
            if with_status {
                out.extend_from_slice(b",\"status\":201");
            }
        }
        Outcome::Failed { status, error } => {
            write_opt_str(out, item.id.as_deref());
            let _ = write!(out, ",\"status\":{status},\"error\":{{\"type\":");
            write_str(out, error.error_type);
            out.extend_from_slice(b",\"reason\":");
            write_str(out, &error.reason);
            out.push(b'}');
        }
    }
    out.push(b'}');
}

/// A JSON string, or `null`.
fn write_opt_str(out: &mut Vec<u8>, text: Option<&str>) {
    match text {
        Some(text) => write_str(out, text),
        None => out.extend_from_slice(b"null"),
    }
}

/// A JSON string: copied as is unless it needs escaping.
fn write_str(out: &mut Vec<u8>, text: &str) {
    if text.bytes().any(|b| b < 0x20 || b == b'"' || b == b'\\') {
        // Writing a `&str` to a `Vec` cannot fail.
        let _ = serde_json::to_writer(&mut *out, text);
    } else {
        out.push(b'"');
        out.extend_from_slice(text.as_bytes());
        out.push(b'"');
    }
}

/// `{"error":{"root_cause":[{"type","reason"}],"type","reason"},"status"}`:
/// Elasticsearch's error reply.
pub fn error_json(status: u16, error: &EsError) -> Value {
    let cause = json!({"type": error.error_type, "reason": error.reason});
    json!({
        "error": {"root_cause": [cause], "type": error.error_type, "reason": error.reason},
        "status": status,
    })
}

/// An action line.
struct Action {
    op: OpType,
    index: Option<String>,
    id: Option<String>,
}

/// Decoding state: the output, a scratch vector reused for every
/// document's flattened attributes, and the last valid index with its tag
/// (documents mostly name the same index).
struct Bulk<'a> {
    request: &'a BulkRequest,
    scratch: Vec<(String, AttrValue)>,
    /// The last index that passed [`invalid_index`] (empty: none yet).
    valid_index: String,
    /// `index:<valid_index>`.
    tag: String,
    out: DecodedBulk,
}

impl<'a> Bulk<'a> {
    fn new(request: &'a BulkRequest) -> Bulk<'a> {
        Bulk {
            request,
            scratch: Vec::with_capacity(32),
            valid_index: String::new(),
            tag: String::new(),
            out: DecodedBulk::default(),
        }
    }

    fn refuse_unsupported(&mut self, action: Action) {
        let op = action.op.as_str();
        let reason = format!(
            "the {op} action is not supported: Strata's Elasticsearch intake is append-only \
             (use index or create)"
        );
        self.push(action, failed("illegal_argument_exception", reason));
    }

    fn push(&mut self, action: Action, outcome: Outcome) {
        self.out.items.push(BulkItem {
            op: action.op,
            index: action.index,
            id: action.id,
            outcome,
        });
    }

    /// Decodes an `index` or `create` action and its source line. Only a
    /// request-level limit is an error; a bad document fails its item.
    fn document(&mut self, mut action: Action, source: &[u8]) -> Result<(), BulkError> {
        if action.index.is_none() {
            action.index.clone_from(&self.request.default_index);
        }
        let refused = match &action.index {
            None => Some(failed(
                "action_request_validation_exception",
                "Validation Failed: 1: index is missing;",
            )),
            Some(index) if !index.is_empty() && *index == self.valid_index => {
                action.id.as_deref().and_then(invalid_id)
            }
            Some(index) => match invalid_index(index) {
                Some(refused) => Some(refused),
                None => {
                    self.valid_index.clone_from(index);
                    self.tag = format!("index:{index}");
                    action.id.as_deref().and_then(invalid_id)
                }
            },
        };
        if let Some(outcome) = refused {
            self.push(action, outcome);
            return Ok(());
        }
        self.scratch.clear();
        if let Err(error) = flatten_object(source, &mut self.scratch) {
            let outcome = failed(
                "document_parsing_exception",
                format!("failed to parse: {error}"),
            );
            self.push(action, outcome);
            return Ok(());
        }
        // A valid index is the one `tag` names.
        let event = to_event(
            &mut self.scratch,
            &self.tag,
            action.id.as_deref(),
            self.request,
        );
        self.out.heap_bytes += event.heap_size() as u64;
        if self.out.heap_bytes > self.request.max_decoded_bytes as u64 {
            let limit = self.request.max_decoded_bytes;
            return Err(BulkError::new(
                ErrorKind::TooLarge,
                TOO_LARGE,
                format!("the request decodes to more than {limit} bytes of events"),
            ));
        }
        let position = self.out.events.len() as u32;
        self.out.events.push(event);
        self.push(action, Outcome::Stored(position));
        Ok(())
    }
}

fn failed(error_type: &'static str, reason: impl Into<String>) -> Outcome {
    Outcome::Failed {
        status: 400,
        error: EsError {
            error_type,
            reason: reason.into(),
        },
    }
}

/// The lines of a body (`\n`, optionally `\r\n`), numbered from 1.
struct Lines<'a> {
    rest: &'a [u8],
    number: usize,
}

impl<'a> Iterator for Lines<'a> {
    type Item = (usize, &'a [u8]);

    fn next(&mut self) -> Option<(usize, &'a [u8])> {
        if self.rest.is_empty() {
            return None;
        }
        // `skip_until` finds the newline with std's word-at-a-time memchr.
        let mut reader = self.rest;
        let taken = std::io::BufRead::skip_until(&mut reader, b'\n').unwrap_or(self.rest.len());
        let (taken, rest) = self.rest.split_at(taken);
        let line = taken.strip_suffix(b"\n").unwrap_or(taken);
        self.rest = rest;
        self.number += 1;
        Some((self.number, line.strip_suffix(b"\r").unwrap_or(line)))
    }
}

fn is_blank(line: &[u8]) -> bool {
    line.iter().all(u8::is_ascii_whitespace)
}

/// The source line after the action on line `number`; a missing or blank
/// one refuses the request, as Elasticsearch's validation does.
fn source_line<'a>(
    lines: &mut Lines<'a>,
    number: usize,
    op: OpType,
) -> Result<&'a [u8], BulkError> {
    match lines.next() {
        Some((_, line)) if !is_blank(line) => Ok(line),
        _ => Err(BulkError::new(
            ErrorKind::BadRequest,
            "action_request_validation_exception",
            format!(
                "Validation Failed: 1: source is missing for the {} action on line [{number}];",
                op.as_str()
            ),
        )),
    }
}

/// At most 64 characters of a client's text, for error messages.
fn short(text: &str) -> String {
    text.chars().take(64).collect()
}

/// Parses an action line: `{"<op>": {"_index": …, "_id": …, …}}`. Other
/// metadata (`routing`, `pipeline`, `require_alias`, …) is ignored.
///
/// A well-formed line is read straight into an [`Action`] (no JSON tree);
/// anything else (including lines that are merely unusual, such as a
/// repeated key) goes through [`parse_action_value`], which decides and
/// words the error.
fn parse_action(line: &[u8], number: usize) -> Result<Action, BulkError> {
    let mut deserializer = serde_json::Deserializer::from_slice(line);
    let fast = deserializer
        .deserialize_map(ActionVisitor)
        .and_then(|action| deserializer.end().map(|()| action));
    match fast {
        Ok(Some(action)) => Ok(action),
        _ => parse_action_value(line, number),
    }
}

/// The fast path of [`parse_action`]: `Some` exactly when the line has one
/// key, a known action, and an object with a usable `_index` and `_id`
/// (`None` and errors leave the verdict to [`parse_action_value`]).
struct ActionVisitor;

impl<'de> Visitor<'de> for ActionVisitor {
    type Value = Option<Action>;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("an action object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Option<Action>, A::Error> {
        let Some(name) = map.next_key::<std::borrow::Cow<'de, str>>()? else {
            return Ok(None);
        };
        let Some(op) = OpType::parse(&name) else {
            return Ok(None);
        };
        let Some((index, id)) = map.next_value_seed(MetaSeed)? else {
            return Ok(None);
        };
        if map.next_key::<de::IgnoredAny>()?.is_some() {
            return Ok(None);
        }
        Ok(Some(Action { op, index, id }))
    }
}

/// An action's metadata object: its `_index` and `_id` (`None` if either is
/// of the wrong type). Other fields are parsed as JSON values (so the line
/// is validated as strictly as [`parse_action_value`] does) and dropped.
struct MetaSeed;

type Meta = (Option<String>, Option<String>);

impl<'de> DeserializeSeed<'de> for MetaSeed {
    type Value = Option<Meta>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Option<Meta>, D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for MetaSeed {
    type Value = Option<Meta>;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("an object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Option<Meta>, A::Error> {
        let (mut index, mut id) = (None, None);
        let mut usable = true;
        // A repeated key: the last one counts, as in a `serde_json::Map`.
        while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
            match key.as_ref() {
                "_index" => {
                    index = match map.next_value::<Value>()? {
                        Value::Null => None,
                        Value::String(index) => Some(index),
                        _ => {
                            usable = false;
                            None
                        }
                    }
                }
                "_id" => {
                    id = match map.next_value::<Value>()? {
                        Value::Null => None,
                        Value::String(id) => Some(id),
                        Value::Number(n) => Some(n.to_string()),
                        _ => {
                            usable = false;
                            None
                        }
                    }
                }
                _ => drop(map.next_value::<Value>()?),
            }
        }
        Ok(usable.then_some((index, id)))
    }
}

/// [`parse_action`] through a JSON tree: the slow path, and the one that
/// words every refusal.
fn parse_action_value(line: &[u8], number: usize) -> Result<Action, BulkError> {
    let malformed = |what: String| {
        BulkError::illegal(format!("Malformed action/metadata line [{number}], {what}"))
    };
    let value: Value = serde_json::from_slice(line).map_err(|e| {
        BulkError::new(
            ErrorKind::BadRequest,
            "parse_exception",
            format!("Malformed action/metadata line [{number}]: {e}"),
        )
    })?;
    let Value::Object(map) = value else {
        return Err(malformed("expected a JSON object".into()));
    };
    if map.len() != 1 {
        return Err(malformed(format!(
            "expected exactly one of [create, delete, index, update] but found {} keys",
            map.len()
        )));
    }
    let Some((name, meta)) = map.into_iter().next() else {
        return Err(malformed("expected an action".into()));
    };
    let Some(op) = OpType::parse(&name) else {
        return Err(malformed(format!(
            "expected one of [create, delete, index, update] but found [{}]",
            short(&name)
        )));
    };
    let Value::Object(meta) = meta else {
        return Err(malformed(format!("expected an object after [{name}]")));
    };
    let index = match meta.get("_index") {
        None | Some(Value::Null) => None,
        Some(Value::String(index)) => Some(index.clone()),
        Some(_) => return Err(malformed("[_index] must be a string".into())),
    };
    let id = match meta.get("_id") {
        None | Some(Value::Null) => None,
        Some(Value::String(id)) => Some(id.clone()),
        Some(Value::Number(n)) => Some(n.to_string()),
        Some(_) => return Err(malformed("[_id] must be a string".into())),
    };
    Ok(Action { op, index, id })
}

/// Elasticsearch's index name rules (plus: no control characters, since the
/// name becomes a tag); the refusal, if any.
fn invalid_index(name: &str) -> Option<Outcome> {
    let rule = if name.is_empty() {
        "must not be empty".to_string()
    } else if name.len() > MAX_INDEX_BYTES {
        format!(
            "index name is too long, ({} > {MAX_INDEX_BYTES})",
            name.len()
        )
    } else if name.chars().any(char::is_uppercase) {
        "must be lowercase".to_string()
    } else if name.starts_with(['-', '_', '+']) {
        "must not start with '_', '-', or '+'".to_string()
    } else if name == "." || name == ".." {
        "must not be '.' or '..'".to_string()
    } else if name.contains(['\\', '/', '*', '?', '"', '<', '>', '|', ' ', ',', '#', ':'])
        || name.chars().any(char::is_control)
    {
        "must not contain the following characters [ , \", *, \\, <, |, ,, >, /, ?, #, :] \
         or control characters"
            .to_string()
    } else {
        return None;
    };
    let reason = format!("Invalid index name [{}], {rule}", short(name));
    Some(failed("invalid_index_name_exception", reason))
}

fn invalid_id(id: &str) -> Option<Outcome> {
    let reason = if id.is_empty() {
        "Validation Failed: 1: if _id is specified it must not be empty;".to_string()
    } else if id.len() > MAX_ID_BYTES {
        format!(
            "Validation Failed: 1: id [{}…] is too long, must be no longer than \
             {MAX_ID_BYTES} bytes but was: {};",
            short(id),
            id.len()
        )
    } else {
        return None;
    };
    Some(failed("action_request_validation_exception", reason))
}

/// An ECS field and where its value may come from, best first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    Message,
    Status,
    Host,
    Service,
    Source,
    TraceId,
    Timestamp,
}

const FIELDS: usize = 7;

fn mapped(path: &str) -> Option<(Field, u8)> {
    let found = match path {
        "message" => (Field::Message, 0),
        "log.level" => (Field::Status, 0),
        "level" => (Field::Status, 1),
        "host.name" => (Field::Host, 0),
        "host.hostname" => (Field::Host, 1),
        "host" => (Field::Host, 2),
        "service.name" => (Field::Service, 0),
        "event.dataset" => (Field::Source, 0),
        "data_stream.dataset" => (Field::Source, 1),
        "trace.id" => (Field::TraceId, 0),
        "@timestamp" => (Field::Timestamp, 0),
        _ => return None,
    };
    Some(found)
}

/// A scalar's text (`Json` values, arrays and `null`, are not scalars).
fn scalar_text(value: AttrValue) -> Option<String> {
    match value {
        AttrValue::Str(s) => Some(s),
        AttrValue::Int(n) => Some(n.to_string()),
        AttrValue::Float(n) => Some(n.to_string()),
        AttrValue::Bool(b) => Some(b.to_string()),
        AttrValue::Json(_) => None,
    }
}

/// Turns one document's flattened attributes into an event (see the module
/// documentation for the mapping). `flat` is left empty.
fn to_event(
    flat: &mut Vec<(String, AttrValue)>,
    tag: &str,
    id: Option<&str>,
    request: &BulkRequest,
) -> Event {
    let mut best: [Option<(u8, usize)>; FIELDS] = [None; FIELDS];
    let mut timestamp_ns = request.now_ns;
    for (position, (path, value)) in flat.iter().enumerate() {
        let Some((field, priority)) = mapped(path) else {
            continue;
        };
        let mut parsed = None;
        let usable = match (field, value) {
            (Field::Timestamp, value) => {
                parsed = parse_timestamp_ns(value);
                parsed.is_some()
            }
            (Field::Status, AttrValue::Str(_) | AttrValue::Int(_)) => true,
            (Field::Status, _) => false,
            (_, value) => !matches!(value, AttrValue::Json(_)),
        };
        let slot = &mut best[field as usize];
        if usable && slot.is_none_or(|(p, _)| priority < p) {
            *slot = Some((priority, position));
            timestamp_ns = parsed.unwrap_or(timestamp_ns);
        }
    }
    let mut values: [Option<AttrValue>; FIELDS] = Default::default();
    let mut attributes = Vec::with_capacity(flat.len() + usize::from(id.is_some()));
    for (position, (path, value)) in flat.drain(..).enumerate() {
        match best
            .iter()
            .position(|slot| matches!(slot, Some((_, p)) if *p == position))
        {
            Some(field) => values[field] = Some(value),
            // The action's `_id` replaces one in the document.
            None if id.is_some() && path == "_id" => {}
            None => attributes.push((path, value)),
        }
    }
    if let Some(id) = id {
        attributes.push(("_id".to_string(), AttrValue::Str(id.to_string())));
    }
    let mut text = |field: Field| values[field as usize].take().and_then(scalar_text);
    let mut message = text(Field::Message).unwrap_or_default();
    truncate(&mut message, request.max_log_bytes);
    let mut event = Event::new(timestamp_ns, message);
    event.host = text(Field::Host);
    event.service = text(Field::Service);
    event.source = text(Field::Source);
    event.trace_id = text(Field::TraceId);
    event.status = match values[Field::Status as usize].take() {
        Some(AttrValue::Str(s)) => Status::normalize(&s),
        Some(AttrValue::Int(n)) => Status::from_severity(n),
        _ => Status::Info,
    };
    event.tags = vec![tag.to_string()];
    event.attributes = attributes;
    event
}

fn truncate(message: &mut String, max: usize) {
    if message.len() > max {
        let mut cut = max;
        while !message.is_char_boundary(cut) {
            cut -= 1;
        }
        message.truncate(cut);
    }
}

#[cfg(test)]
mod tests;
