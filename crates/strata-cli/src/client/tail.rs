//! `strata tail`: the `GET /api/v2/logs/tail` Server-Sent Events stream,
//! read line by line.
//!
//! Ctrl-C keeps the default SIGINT action (the process ends at once, exit
//! status 130): stdout is line-buffered, so every log already printed is
//! complete and nothing is left to clean up. A closed stdout (`| head`)
//! ends the command quietly at the next log (see `quiet_on_broken_pipe`).

use std::io::{BufRead, BufReader, IsTerminal, Write};
use std::time::Duration;

use anyhow::{bail, Context};
use serde_json::Value;

use super::http::{server_error_message, Client};
use super::search::log_field;
use super::table::{one_line, truncate};
use super::{line_width, TailArgs};

const TAIL_PATH: &str = "/api/v2/logs/tail";
/// Not one byte, not even a keep-alive comment, for this long means that
/// the server or the network is gone. Generous: the keep-alive period is
/// the server's choice (axum's default is 15 s).
const STALL_TIMEOUT: Duration = Duration::from_secs(120);

pub(super) fn run(args: TailArgs) -> anyhow::Result<()> {
    let client = Client::new(&args.connect, STALL_TIMEOUT)?;
    let stream = client.get_stream(TAIL_PATH, &[("query", &args.query)])?;
    let mut reader = BufReader::new(stream);
    // Cut lines for a person watching, not for `| grep`.
    let width = std::io::stdout().is_terminal().then(line_width);
    let mut out = std::io::stdout().lock();
    let mut parser = SseParser::default();
    let mut line = Vec::new();
    loop {
        line.clear();
        let read = match reader.read_until(b'\n', &mut line) {
            Ok(read) => read,
            Err(error) if is_timeout(&error) => bail!(
                "nothing from the server for {} s, not even a keep-alive; giving up",
                STALL_TIMEOUT.as_secs()
            ),
            Err(error) => return Err(error).context("reading the log stream"),
        };
        if read == 0 {
            bail!("the server closed the log stream");
        }
        let text = String::from_utf8_lossy(&line);
        let Some(event) = parser.push_line(&text) else {
            continue;
        };
        match event.event.as_str() {
            "log" | "message" => print_log(&event.data, args.json, width, &mut out)?,
            "dropped" => eprintln!("{}", dropped_warning(&event.data)),
            "error" => {
                let message = server_error_message(&event.data).unwrap_or(event.data);
                eprintln!("warning: the server reports: {message}");
            }
            // Events this client does not know yet.
            _ => {}
        }
    }
}

fn is_timeout(error: &std::io::Error) -> bool {
    matches!(
        error.kind(),
        std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock
    )
}

fn print_log(
    data: &str,
    json: bool,
    width: Option<usize>,
    out: &mut impl Write,
) -> std::io::Result<()> {
    let log: Value = match serde_json::from_str(data) {
        Ok(log) => log,
        Err(error) => {
            eprintln!(
                "warning: skipping a log event that is not JSON ({error}): {}",
                truncate(&one_line(data), 200)
            );
            return Ok(());
        }
    };
    if json {
        return writeln!(out, "{log}");
    }
    writeln!(out, "{}", tail_line(&log, width))
}

/// `timestamp status service message` on one line, cut to `width`.
fn tail_line(log: &Value, width: Option<usize>) -> String {
    let mut service = log_field(log, "service");
    if service.is_empty() {
        service = "-".to_string();
    }
    let line = format!(
        "{} {:<7} {:<16} {}",
        log_field(log, "timestamp"),
        log_field(log, "status"),
        service,
        log_field(log, "message"),
    );
    let line = one_line(line.trim_end());
    match width {
        Some(width) => truncate(&line, width),
        None => line,
    }
}

fn dropped_warning(data: &str) -> String {
    let dropped = serde_json::from_str::<Value>(data)
        .ok()
        .and_then(|value| value.get("dropped").and_then(Value::as_u64));
    match dropped {
        Some(count) => format!(
            "warning: the server dropped {count} logs for this client, which read too slowly"
        ),
        None => format!("warning: the server dropped logs for this client: {data}"),
    }
}

/// One dispatched Server-Sent Event.
#[derive(Debug, Clone, PartialEq, Eq)]
struct SseEvent {
    /// `event:`, `message` when the event had none.
    event: String,
    /// The `data:` lines joined with `\n`.
    data: String,
}

/// The event-stream format, line by line (WHATWG HTML §9.2.6): `field:
/// value` lines accumulate, a blank line dispatches, `:` starts a comment
/// (keep-alives). `id` and `retry` are ignored: this client does not
/// reconnect.
#[derive(Debug, Default)]
struct SseParser {
    event: String,
    data: String,
    has_data: bool,
}

impl SseParser {
    /// Feeds one line (with or without its `\n` / `\r\n`); returns the event
    /// that a blank line completes.
    fn push_line(&mut self, line: &str) -> Option<SseEvent> {
        let line = line.strip_suffix('\n').unwrap_or(line);
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.is_empty() {
            return self.dispatch();
        }
        if line.starts_with(':') {
            return None;
        }
        let (field, value) = match line.split_once(':') {
            Some((field, value)) => (field, value.strip_prefix(' ').unwrap_or(value)),
            None => (line, ""),
        };
        match field {
            "event" => self.event = value.to_string(),
            "data" => {
                if self.has_data {
                    self.data.push('\n');
                }
                self.data.push_str(value);
                self.has_data = true;
            }
            _ => {}
        }
        None
    }

    fn dispatch(&mut self) -> Option<SseEvent> {
        let event = std::mem::take(&mut self.event);
        let data = std::mem::take(&mut self.data);
        let has_data = std::mem::replace(&mut self.has_data, false);
        if !has_data {
            return None;
        }
        let event = if event.is_empty() {
            "message".to_string()
        } else {
            event
        };
        Some(SseEvent { event, data })
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn feed(text: &str) -> Vec<SseEvent> {
        let mut parser = SseParser::default();
        text.split_inclusive('\n')
            .filter_map(|line| parser.push_line(line))
            .collect()
    }

    fn event(event: &str, data: &str) -> SseEvent {
        SseEvent {
            event: event.into(),
            data: data.into(),
        }
    }

    #[test]
    fn events_are_dispatched_on_blank_lines() {
        let events = feed(
            ": keep-alive\n\n\
             event: log\ndata: {\"id\":\"a\"}\n\n\
             event: dropped\ndata: {\"dropped\": 7}\n\n\
             : keep-alive\n\n",
        );
        assert_eq!(
            events,
            [
                event("log", "{\"id\":\"a\"}"),
                event("dropped", "{\"dropped\": 7}")
            ]
        );
    }

    #[test]
    fn sse_line_details() {
        // CRLF, no space after the colon, several data lines, default type.
        let events = feed("event:log\r\ndata:a\r\ndata:  b\r\n\r\ndata\n\ndata: x\n\n");
        assert_eq!(
            events,
            [
                event("log", "a\n b"),
                event("message", ""),
                event("message", "x")
            ]
        );
        // An event name without data is forgotten at the blank line.
        assert_eq!(feed("event: log\n\ndata: y\n\n"), [event("message", "y")]);
        // id, retry and unknown fields are ignored; no blank line, no event.
        assert_eq!(feed("id: 1\nretry: 10\nfoo: bar\ndata: z\n"), []);
    }

    #[test]
    fn tail_lines() {
        let log = json!({"id": "a", "type": "log", "attributes": {
            "timestamp": "2024-05-01T10:00:00.000Z", "status": "error",
            "service": "web", "host": "h", "message": "boom\nat line 3"}});
        assert_eq!(
            tail_line(&log, None),
            "2024-05-01T10:00:00.000Z error   web              boom at line 3"
        );
        assert_eq!(tail_line(&log, Some(30)).chars().count(), 30);
        let bare = json!({"attributes": {"timestamp": "t", "status": "info"}});
        assert_eq!(tail_line(&bare, None), "t info    -");
    }

    #[test]
    fn dropped_warnings() {
        assert_eq!(
            dropped_warning("{\"dropped\": 42}"),
            "warning: the server dropped 42 logs for this client, which read too slowly"
        );
        assert!(dropped_warning("garbage").ends_with(": garbage"));
    }
}
