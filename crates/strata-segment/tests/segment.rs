//! Round trips and layout checks for the segment format.

use std::io::Write;

use bytes::Bytes;
use parquet::basic::{Compression, Encoding};
use parquet::file::metadata::ParquetMetaDataReader;
use proptest::prelude::*;
use strata_segment::{
    columns, meta_keys, read_meta, read_segment, write_segment, SegmentError, SegmentMeta,
    SegmentOptions, SegmentRow,
};
use strata_types::{event_id, hour_bucket, AttrValue, Event, Status, HOUR_NS};

/// 2023-11-14T22:00:00Z, the start of an hour bucket.
const BASE: i64 = 1_699_999_200_000_000_000;

fn s(text: &str) -> String {
    text.to_string()
}

fn attr(path: &str, value: AttrValue) -> (String, AttrValue) {
    (path.to_string(), value)
}

fn row(seq: u64, event: Event) -> SegmentRow {
    SegmentRow {
        id: event_id(seq, 0),
        event,
    }
}

fn write(rows: Vec<SegmentRow>, options: &SegmentOptions) -> (Bytes, SegmentMeta) {
    let mut out = Vec::new();
    let meta = write_segment(rows, options, &mut out).expect("write_segment");
    (Bytes::from(out), meta)
}

/// What read_segment must return: rows in segment order, attributes sorted by
/// key (stable).
fn expected(mut rows: Vec<SegmentRow>) -> Vec<SegmentRow> {
    rows.sort_by(|a, b| {
        let key = |r: &SegmentRow| {
            (
                r.event.service.clone(),
                r.event.status,
                r.event.timestamp_ns,
                r.id.clone(),
            )
        };
        key(a).cmp(&key(b))
    });
    for r in &mut rows {
        r.event.attributes.sort_by(|a, b| a.0.cmp(&b.0));
    }
    rows
}

fn assert_round_trip(rows: Vec<SegmentRow>, options: &SegmentOptions) -> (Bytes, SegmentMeta) {
    let (bytes, meta) = write(rows.clone(), options);
    let back = read_segment(bytes.clone()).expect("read_segment");
    let want = expected(rows);
    assert_eq!(back.len(), want.len());
    for (got, want) in back.iter().zip(&want) {
        assert_eq!(got, want);
    }
    (bytes, meta)
}

fn column_names(bytes: &Bytes) -> Vec<String> {
    let metadata = ParquetMetaDataReader::new()
        .parse_and_finish(bytes)
        .expect("parquet footer");
    metadata
        .file_metadata()
        .schema_descr()
        .root_schema()
        .get_fields()
        .iter()
        .map(|f| f.name().to_string())
        .collect()
}

fn varied_events() -> Vec<SegmentRow> {
    let mut rows = Vec::new();

    let mut e = Event::new(BASE + 5, s("GET /api/users 200"));
    e.status = Status::Ok;
    e.service = Some(s("web"));
    e.host = Some(s("host-1"));
    e.source = Some(s("nginx"));
    e.trace_id = Some(s("abc123"));
    e.tags = vec![s("env:prod"), s("team:core")];
    e.attributes = vec![
        attr("http.status_code", AttrValue::Int(200)),
        attr("http.method", AttrValue::Str(s("GET"))),
        attr("duration", AttrValue::Float(1.25)),
        attr("cached", AttrValue::Bool(true)),
        attr("items", AttrValue::Json(s("[1,2,3]"))),
        attr("nothing", AttrValue::Json(s("null"))),
    ];
    rows.push(row(1, e));

    // Unicode everywhere, empty strings that are not None.
    let mut e = Event::new(BASE + 3, s("héllo wörld ✓ 日本語 🚀"));
    e.status = Status::Error;
    e.service = Some(s("sérvice-ü"));
    e.host = Some(String::new());
    e.source = Some(s("日本"));
    e.tags = vec![String::new(), s("emoji:🎉")];
    e.attributes = vec![
        attr("http.status_code", AttrValue::Int(500)),
        attr("usr.名前", AttrValue::Str(s("名無し"))),
        attr("http.method", AttrValue::Str(String::new())),
        attr("duration", AttrValue::Float(2.0)),
    ];
    rows.push(row(2, e));

    // Empty message, no tags, no attributes, no optional fields.
    rows.push(row(3, Event::new(BASE, String::new())));

    // Extremes.
    let mut e = Event::new(BASE + HOUR_NS - 1, s("extremes"));
    e.status = Status::Emergency;
    e.service = Some(s("web"));
    e.attributes = vec![
        attr("http.status_code", AttrValue::Int(i64::MIN)),
        attr("big", AttrValue::Int(i64::MAX)),
        attr("duration", AttrValue::Float(-0.1)),
        attr("tiny", AttrValue::Float(f64::MIN_POSITIVE)),
        attr("huge", AttrValue::Float(f64::MAX)),
        attr("inf", AttrValue::Float(f64::INFINITY)),
        attr("cached", AttrValue::Bool(false)),
        attr("list", AttrValue::Json(s("[{\"a\":1},\"x\"]"))),
    ];
    rows.push(row(4, e));

    // Same service and status as row 1 at an earlier time; missing attributes.
    let mut e = Event::new(BASE + 1, s("GET /health"));
    e.status = Status::Ok;
    e.service = Some(s("web"));
    e.attributes = vec![attr("http.method", AttrValue::Str(s("GET")))];
    rows.push(row(5, e));

    for status in Status::ALL {
        let mut e = Event::new(BASE + 7, format!("status {}", status.as_str()));
        e.status = status;
        e.service = Some(s("api"));
        rows.push(row(10 + status.code() as u64, e));
    }
    rows
}

#[test]
fn varied_events_round_trip() {
    let (bytes, meta) = assert_round_trip(varied_events(), &SegmentOptions::default());
    assert_eq!(meta.rows, varied_events().len() as u64);
    assert_eq!(meta.min_timestamp_ns, BASE);
    assert_eq!(meta.max_timestamp_ns, BASE + HOUR_NS - 1);
    assert_eq!(meta.hour_bucket_ns, BASE);
    // Json values always overflow: rows 1 and 4 hold some.
    assert_eq!(meta.overflow_rows, 2);
    let names = column_names(&bytes);
    assert!(names.contains(&s("@http.status_code")));
    assert!(names.contains(&s("@usr.名前")));
    assert!(!names.contains(&s("@items")), "Json never gets a column");
}

#[test]
fn round_trip_through_a_file() {
    let file = tempfile::NamedTempFile::new().expect("temp file");
    let meta = write_segment(
        varied_events(),
        &SegmentOptions::default(),
        std::io::BufWriter::new(file.reopen().expect("reopen")),
    )
    .expect("write to file");
    let bytes = Bytes::from(std::fs::read(file.path()).expect("read file"));
    assert_eq!(read_meta(bytes.clone()).expect("read_meta"), meta);
    assert_eq!(
        read_segment(bytes).expect("read"),
        expected(varied_events())
    );
}

#[test]
fn schema_is_as_documented() {
    let (bytes, _) = write(varied_events(), &SegmentOptions::default());
    let names = column_names(&bytes);
    let mut want = vec![
        columns::ID,
        columns::TIMESTAMP,
        columns::STATUS,
        columns::SERVICE,
        columns::HOST,
        columns::SOURCE,
        columns::TRACE_ID,
        columns::MESSAGE,
        columns::TAGS,
    ]
    .into_iter()
    .map(String::from)
    .collect::<Vec<_>>();
    for path in [
        "big",
        "cached",
        "duration",
        "http.method",
        "http.status_code",
        "huge",
        "inf",
        "tiny",
        "usr.名前",
    ] {
        want.push(format!("@{path}"));
    }
    want.push(s(columns::OVERFLOW));
    assert_eq!(names, want);

    let builder =
        parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(bytes.clone())
            .expect("builder");
    let schema = builder.schema();
    let field = |name: &str| schema.field_with_name(name).expect(name).clone();
    use arrow_schema::{DataType, TimeUnit};
    assert_eq!(field("id").data_type(), &DataType::Utf8);
    assert!(!field("id").is_nullable());
    assert_eq!(
        field("timestamp").data_type(),
        &DataType::Timestamp(TimeUnit::Nanosecond, Some("UTC".into()))
    );
    assert_eq!(
        field("status").data_type(),
        &DataType::Dictionary(Box::new(DataType::Int8), Box::new(DataType::Utf8))
    );
    assert!(field("service").is_nullable());
    assert!(!field("message").is_nullable());
    assert!(!field("tags").is_nullable());
    assert_eq!(field("@http.status_code").data_type(), &DataType::Int64);
    assert_eq!(field("@duration").data_type(), &DataType::Float64);
    assert_eq!(field("@cached").data_type(), &DataType::Boolean);
    assert_eq!(field("@http.method").data_type(), &DataType::Utf8);
    assert!(field("_overflow").is_nullable());

    let metadata = builder.metadata();
    let kv: Vec<(String, String)> = metadata
        .file_metadata()
        .key_value_metadata()
        .expect("kv metadata")
        .iter()
        .filter(|kv| kv.key.starts_with("strata."))
        .map(|kv| (kv.key.clone(), kv.value.clone().unwrap_or_default()))
        .collect();
    assert!(kv.contains(&(s(meta_keys::VERSION), s("1"))));
    assert!(kv.contains(&(s(meta_keys::ATTRIBUTE_COLUMNS), s("9"))));
    for rg in metadata.row_groups() {
        for col in rg.columns() {
            assert!(
                matches!(col.compression(), Compression::ZSTD(_)),
                "{}",
                col.column_path()
            );
            // Free text and random ids carry no statistics (they prune nothing).
            let path = col.column_path().string();
            let without = ["message", "trace_id", "_overflow"].contains(&path.as_str());
            assert_eq!(col.statistics().is_some(), !without, "{path}");
        }
        let status = rg.column(2);
        assert_eq!(status.column_path().string(), "status");
        assert!(status.dictionary_page_offset().is_some());
        // Only `service` (leaf 3) is declared sorted: status sorts by
        // severity code, not by its name's bytes.
        assert_eq!(rg.column(3).column_path().string(), "service");
        assert_eq!(
            rg.sorting_columns(),
            Some(&vec![parquet::format::SortingColumn::new(3, false, true)])
        );
        let ts = rg.column(1);
        assert!(ts.encodings().contains(&Encoding::DELTA_BINARY_PACKED));
    }
    // Page statistics come with column and offset indexes.
    let with_index = ParquetMetaDataReader::new()
        .with_page_indexes(true)
        .parse_and_finish(&bytes)
        .expect("page index");
    assert!(with_index.column_index().is_some());
    assert!(with_index.offset_index().is_some());
}

#[test]
fn mixed_types_per_path_overflow_and_round_trip() {
    let mut rows = Vec::new();
    for i in 0..10u64 {
        let mut e = Event::new(BASE + i as i64, format!("event {i}"));
        let value = match i {
            0..=5 => AttrValue::Int(i as i64),
            6 | 7 => AttrValue::Float(i as f64), // integral floats: 6.0, 7.0
            8 => AttrValue::Str(s("eight")),
            _ => AttrValue::Json(s("[9]")),
        };
        e.attributes = vec![
            attr("code", value),
            attr("other", AttrValue::Bool(i % 2 == 0)),
        ];
        rows.push(row(i, e));
    }
    let (bytes, meta) = assert_round_trip(rows, &SegmentOptions::default());
    assert_eq!(meta.attribute_columns, 2);
    assert_eq!(meta.overflow_rows, 4);
    let builder =
        parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(bytes.clone())
            .expect("builder");
    assert_eq!(
        builder
            .schema()
            .field_with_name("@code")
            .expect("@code")
            .data_type(),
        &arrow_schema::DataType::Int64
    );
    // The Float 6.0 comes back as a Float, not an Int.
    let back = read_segment(bytes).expect("read");
    assert_eq!(
        back[6].event.attributes[0],
        attr("code", AttrValue::Float(6.0))
    );
}

#[test]
fn repeated_paths_in_one_event_round_trip() {
    let mut e = Event::new(BASE, s("dup"));
    e.attributes = vec![
        attr("a.b", AttrValue::Str(s("first"))),
        attr("a.b", AttrValue::Int(2)),
        attr("a.b", AttrValue::Int(3)),
        attr("z", AttrValue::Int(1)),
    ];
    let mut e2 = Event::new(BASE, s("column type"));
    e2.attributes = vec![
        attr("a.b", AttrValue::Int(4)),
        attr("a.b", AttrValue::Int(5)),
    ];
    let mut e3 = Event::new(BASE, s("more ints"));
    e3.attributes = vec![attr("a.b", AttrValue::Int(6))];
    assert_round_trip(
        vec![row(1, e), row(2, e2), row(3, e3)],
        &SegmentOptions::default(),
    );
}

#[test]
fn attribute_column_cap_is_respected() {
    let mut rows = Vec::new();
    // Frequencies: p0 5, p1 4, p2 3, p3 3, p4 1.
    let freq = [5u64, 4, 3, 3, 1];
    for i in 0..5u64 {
        let mut e = Event::new(BASE + i as i64, format!("e{i}"));
        for (p, n) in freq.iter().enumerate() {
            if i < *n {
                e.attributes
                    .push(attr(&format!("p{p}"), AttrValue::Str(format!("v{i}{p}"))));
            }
        }
        rows.push(row(i, e));
    }
    let options = SegmentOptions {
        max_attribute_columns: 2,
        ..SegmentOptions::default()
    };
    let (bytes, meta) = assert_round_trip(rows.clone(), &options);
    assert_eq!(meta.attribute_columns, 2);
    let names = column_names(&bytes);
    let attrs: Vec<&String> = names.iter().filter(|n| n.starts_with('@')).collect();
    assert_eq!(attrs, vec!["@p0", "@p1"]);
    assert_eq!(meta.overflow_rows, 3);

    // Ties go by name: cap 3 takes p2 over p3.
    let options = SegmentOptions {
        max_attribute_columns: 3,
        ..SegmentOptions::default()
    };
    let (bytes, _) = assert_round_trip(rows.clone(), &options);
    let names = column_names(&bytes);
    assert!(names.contains(&s("@p2")) && !names.contains(&s("@p3")));

    // Cap 0: everything overflows.
    let options = SegmentOptions {
        max_attribute_columns: 0,
        ..SegmentOptions::default()
    };
    let (_, meta) = assert_round_trip(rows, &options);
    assert_eq!(meta.attribute_columns, 0);
    assert_eq!(meta.overflow_rows, 5);
}

#[test]
fn rows_come_back_sorted() {
    let services = [None, Some("b"), Some("a"), Some("")];
    let mut rows = Vec::new();
    let mut seq = 0;
    for ts in [30, 10, 20] {
        for service in services {
            for status in [Status::Ok, Status::Error, Status::Info] {
                for idx in [1u32, 0] {
                    let mut e = Event::new(BASE + ts, s("m"));
                    e.service = service.map(String::from);
                    e.status = status;
                    rows.push(SegmentRow {
                        id: event_id(seq, idx),
                        event: e,
                    });
                }
                seq += 1;
            }
        }
    }
    // Small row groups: the order holds across them.
    let options = SegmentOptions {
        row_group_rows: 7,
        ..SegmentOptions::default()
    };
    let (bytes, _) = write(rows.clone(), &options);
    let metadata = ParquetMetaDataReader::new()
        .parse_and_finish(&bytes)
        .expect("footer");
    assert_eq!(metadata.num_row_groups(), rows.len().div_ceil(7));
    let back = read_segment(bytes).expect("read");
    assert_eq!(back.len(), rows.len());
    assert_eq!(back[0].event.service, None);
    for pair in back.windows(2) {
        let key = |r: &SegmentRow| {
            (
                r.event.service.clone(),
                r.event.status,
                r.event.timestamp_ns,
                r.id.clone(),
            )
        };
        assert!(
            key(&pair[0]) < key(&pair[1]),
            "{:?} !< {:?}",
            key(&pair[0]),
            key(&pair[1])
        );
    }
    // Status sorts by severity code, not by name.
    let a: Vec<Status> = back
        .iter()
        .filter(|r| r.event.service.as_deref() == Some("a") && r.event.timestamp_ns == BASE + 10)
        .map(|r| r.event.status)
        .collect();
    assert_eq!(
        a,
        vec![
            Status::Error,
            Status::Error,
            Status::Info,
            Status::Info,
            Status::Ok,
            Status::Ok
        ]
    );
    assert_eq!(back, expected(rows));
}

#[test]
fn mixed_hour_buckets_are_rejected() {
    let rows = vec![
        row(1, Event::new(BASE, s("a"))),
        row(2, Event::new(BASE + HOUR_NS, s("b"))),
    ];
    let mut out = Vec::new();
    let err = write_segment(rows, &SegmentOptions::default(), &mut out).unwrap_err();
    assert!(
        matches!(err, SegmentError::MixedHourBuckets { first, other } if first == BASE && other == BASE + HOUR_NS),
        "{err}"
    );
    assert!(out.is_empty(), "nothing written on error");

    let rows = vec![
        row(1, Event::new(BASE, s("a"))),
        row(2, Event::new(BASE - 1, s("b"))),
    ];
    let err = write_segment(rows, &SegmentOptions::default(), Vec::new()).unwrap_err();
    assert!(
        matches!(err, SegmentError::MixedHourBuckets { .. }),
        "{err}"
    );
}

#[test]
fn empty_input_is_rejected() {
    let mut out = Vec::new();
    let err = write_segment(Vec::new(), &SegmentOptions::default(), &mut out).unwrap_err();
    assert!(matches!(err, SegmentError::Empty), "{err}");
    assert!(out.is_empty());
}

#[test]
fn invalid_options_are_rejected() {
    for options in [
        SegmentOptions {
            row_group_rows: 0,
            ..SegmentOptions::default()
        },
        SegmentOptions {
            zstd_level: 0,
            ..SegmentOptions::default()
        },
        SegmentOptions {
            zstd_level: 23,
            ..SegmentOptions::default()
        },
    ] {
        let err = write_segment(varied_events(), &options, Vec::new()).unwrap_err();
        assert!(matches!(err, SegmentError::InvalidOptions(_)), "{err}");
    }
}

#[test]
fn read_meta_agrees_with_write() {
    let (bytes, meta) = write(varied_events(), &SegmentOptions::default());
    assert_eq!(read_meta(bytes).expect("read_meta"), meta);

    let rows: Vec<SegmentRow> = (0..100)
        .map(|i| {
            let mut e = Event::new(BASE + 1000 + i, format!("m{i}"));
            if i % 3 == 0 {
                e.attributes.push(attr("j", AttrValue::Json(s("[]"))));
            }
            row(i as u64, e)
        })
        .collect();
    let options = SegmentOptions {
        row_group_rows: 16,
        zstd_level: 19,
        ..SegmentOptions::default()
    };
    let (bytes, meta) = write(rows, &options);
    assert_eq!(
        meta,
        SegmentMeta {
            rows: 100,
            min_timestamp_ns: BASE + 1000,
            max_timestamp_ns: BASE + 1099,
            hour_bucket_ns: hour_bucket(BASE + 1000),
            attribute_columns: 0,
            overflow_rows: 34,
        }
    );
    assert_eq!(read_meta(bytes).expect("read_meta"), meta);
}

#[test]
fn foreign_files_are_rejected() {
    assert!(matches!(
        read_meta(Bytes::from_static(b"not parquet at all")),
        Err(SegmentError::Parquet(_))
    ));
    assert!(matches!(
        read_segment(Bytes::from_static(b"")),
        Err(SegmentError::Parquet(_))
    ));

    // A Parquet file without Strata's metadata.
    use arrow_array::{Int64Array, RecordBatch};
    let batch = RecordBatch::try_from_iter([(
        "x",
        std::sync::Arc::new(Int64Array::from(vec![1, 2])) as arrow_array::ArrayRef,
    )])
    .expect("batch");
    let mut plain = Vec::new();
    let mut writer =
        parquet::arrow::ArrowWriter::try_new(&mut plain, batch.schema(), None).expect("writer");
    writer.write(&batch).expect("write");
    writer.close().expect("close");
    let plain = Bytes::from(plain);
    assert!(matches!(
        read_meta(plain.clone()),
        Err(SegmentError::Metadata {
            key: "strata.segment.version",
            ..
        })
    ));
    assert!(matches!(
        read_segment(plain),
        Err(SegmentError::Metadata { .. })
    ));

    // A future version.
    let mut future = Vec::new();
    let props = parquet::file::properties::WriterProperties::builder()
        .set_key_value_metadata(Some(vec![parquet::file::metadata::KeyValue::new(
            s(meta_keys::VERSION),
            s("2"),
        )]))
        .build();
    let mut writer = parquet::arrow::ArrowWriter::try_new(&mut future, batch.schema(), Some(props))
        .expect("writer");
    writer.write(&batch).expect("write");
    writer.close().expect("close");
    let err = read_meta(Bytes::from(future)).unwrap_err();
    assert!(
        matches!(err, SegmentError::UnsupportedVersion(ref v) if v == "2"),
        "{err}"
    );
}

/// A small deterministic PRNG (xorshift64*), so the test needs no `rand`.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len() as u64) as usize]
    }
}

fn realistic_events(n: u64) -> Vec<SegmentRow> {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let services = ["web", "api", "checkout", "auth", "search"];
    let hosts = [
        "ip-10-0-1-12",
        "ip-10-0-1-13",
        "ip-10-0-2-7",
        "ip-10-0-3-44",
    ];
    let methods = ["GET", "GET", "GET", "POST", "PUT", "DELETE"];
    let routes = [
        "/api/v1/users",
        "/api/v1/orders",
        "/api/v1/cart",
        "/health",
        "/login",
    ];
    let agents = [
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36",
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) Gecko/20100101 Firefox/120.0",
        "curl/8.4.0",
    ];
    let mut ts = BASE;
    (0..n)
        .map(|i| {
            ts += 1 + rng.below(300_000_000) as i64;
            let service = rng.pick(&services);
            let method = rng.pick(&methods);
            let route = rng.pick(&routes);
            let code = match rng.below(20) {
                0 => 500,
                1 | 2 => 404,
                _ => 200,
            };
            let ms = rng.below(250);
            let user = rng.below(500);
            let mut e = Event::new(
                ts,
                format!("{method} {route}/{user} HTTP/1.1 {code} {ms}ms"),
            );
            e.status = if code >= 500 {
                Status::Error
            } else if code >= 400 {
                Status::Warn
            } else {
                Status::Info
            };
            e.service = Some(s(service));
            e.host = Some(s(rng.pick(&hosts)));
            e.source = Some(s("nginx"));
            if rng.below(4) == 0 {
                e.trace_id = Some(format!("{:016x}", rng.next()));
            }
            e.tags = vec![
                s("env:prod"),
                format!("service:{service}"),
                s("version:1.4.2"),
            ];
            e.attributes = vec![
                attr("http.method", AttrValue::Str(s(method))),
                attr("http.url", AttrValue::Str(format!("{route}/{user}"))),
                attr("http.status_code", AttrValue::Int(code)),
                attr("http.useragent", AttrValue::Str(s(rng.pick(&agents)))),
                attr("duration", AttrValue::Float(ms as f64 / 1000.0)),
                attr(
                    "network.client.ip",
                    AttrValue::Str(format!("192.168.{}.{}", rng.below(4), rng.below(256))),
                ),
                attr("usr.id", AttrValue::Int(user as i64)),
                attr("cache.hit", AttrValue::Bool(rng.below(3) == 0)),
            ];
            SegmentRow {
                id: event_id(1000 + i / 50, (i % 50) as u32),
                event: e,
            }
        })
        .collect()
}

#[test]
fn compression_beats_json_five_times() {
    let rows = realistic_events(10_000);
    let mut json = Vec::new();
    for r in &rows {
        serde_json::to_writer(&mut json, &r.event.to_json(&r.id)).expect("json");
        json.write_all(b"\n").expect("newline");
    }
    let (bytes, meta) = assert_round_trip(rows, &SegmentOptions::default());
    assert_eq!(meta.overflow_rows, 0);
    let ratio = json.len() as f64 / bytes.len() as f64;
    println!(
        "json {} bytes, segment {} bytes, ratio {ratio:.1}x",
        json.len(),
        bytes.len()
    );
    assert!(ratio >= 5.0, "only {ratio:.2}x smaller than JSON");
}

fn arb_text() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        "[a-z]{1,6}",
        any::<String>().prop_map(|s| s.chars().take(12).collect()),
    ]
}

fn arb_value() -> impl Strategy<Value = AttrValue> {
    prop_oneof![
        arb_text().prop_map(AttrValue::Str),
        any::<i64>().prop_map(AttrValue::Int),
        prop_oneof![
            any::<f64>().prop_filter("NaN != NaN", |f| !f.is_nan()),
            (-1000i32..1000).prop_map(f64::from),
        ]
        .prop_map(AttrValue::Float),
        any::<bool>().prop_map(AttrValue::Bool),
        prop_oneof![Just(s("null")), Just(s("[]")), Just(s("[1,\"x\",null]"))]
            .prop_map(AttrValue::Json),
    ]
}

fn arb_event() -> impl Strategy<Value = Event> {
    let path = prop_oneof![
        Just(s("a")),
        Just(s("b")),
        Just(s("c.d")),
        Just(s("é.ü")),
        "[a-z]{1,3}",
    ];
    (
        0..HOUR_NS,
        0..Status::ALL.len(),
        proptest::option::of(arb_text()),
        proptest::option::of(arb_text()),
        proptest::option::of(arb_text()),
        proptest::option::of(arb_text()),
        arb_text(),
        proptest::collection::vec(arb_text(), 0..3),
        proptest::collection::vec((path, arb_value()), 0..5),
    )
        .prop_map(
            |(offset, status, service, host, source, trace_id, message, tags, attributes)| Event {
                timestamp_ns: BASE + offset,
                status: Status::ALL[status],
                service,
                host,
                source,
                trace_id,
                message,
                tags,
                attributes,
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    #[test]
    fn generated_events_round_trip(
        events in proptest::collection::vec(arb_event(), 1..24),
        max_attribute_columns in 0usize..4,
        row_group_rows in 1usize..10,
    ) {
        let rows: Vec<SegmentRow> = events
            .into_iter()
            .enumerate()
            .map(|(i, event)| SegmentRow { id: event_id(7, i as u32), event })
            .collect();
        let options = SegmentOptions { max_attribute_columns, row_group_rows, zstd_level: 1 };
        let mut out = Vec::new();
        let meta = write_segment(rows.clone(), &options, &mut out).expect("write");
        let bytes = Bytes::from(out);
        prop_assert_eq!(read_meta(bytes.clone()).expect("meta"), meta);
        prop_assert!(meta.attribute_columns <= max_attribute_columns);
        let back = read_segment(bytes).expect("read");
        prop_assert_eq!(back, expected(rows));
    }
}
