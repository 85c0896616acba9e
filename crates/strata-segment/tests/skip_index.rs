//! The skip index in the segment footer: written by `write_segment`, read by
//! `read_skip_index`, absent from older segments.

use bytes::Bytes;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::arrow::ArrowWriter;
use parquet::file::metadata::KeyValue;
use parquet::file::properties::WriterProperties;
use strata_segment::skip_index::KeywordField;
use strata_segment::{
    meta_keys, read_meta, read_segment, read_skip_index, write_segment, SegmentError,
    SegmentOptions, SegmentRow, SkipIndex,
};
use strata_types::{event_id, AttrValue, Event, Status};

/// 2023-11-14T22:00:00Z, the start of an hour bucket.
const BASE: i64 = 1_699_999_200_000_000_000;

fn rows(n: u64) -> Vec<SegmentRow> {
    (0..n)
        .map(|i| {
            let mut event = Event::new(
                BASE + i as i64,
                format!("GET /api/v1/users/{i} 200 took {}ms", i % 97),
            );
            event.service = Some(["web", "api"][(i % 2) as usize].to_string());
            event.status = if i % 10 == 0 {
                Status::Error
            } else {
                Status::Info
            };
            event.tags = vec!["env:prod".to_string()];
            event.attributes.push((
                "http.status_code".to_string(),
                AttrValue::Int(200 + (i % 5) as i64),
            ));
            SegmentRow {
                id: event_id(i, 0),
                event,
            }
        })
        .collect()
}

fn write(rows: Vec<SegmentRow>) -> Bytes {
    let mut out = Vec::new();
    write_segment(rows, &SegmentOptions::default(), &mut out).expect("write_segment");
    Bytes::from(out)
}

/// Rewrites a segment with the same data and footer keys, except that the
/// skip index key is dropped (`None`) or replaced.
fn rewrite_with_skip_index(segment: Bytes, value: Option<&str>) -> Bytes {
    let builder = ParquetRecordBatchReaderBuilder::try_new(segment).expect("reader");
    let mut kvs: Vec<KeyValue> = builder
        .metadata()
        .file_metadata()
        .key_value_metadata()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .filter(|kv| kv.key.starts_with("strata.") && kv.key != meta_keys::SKIP_INDEX)
        .collect();
    if let Some(value) = value {
        kvs.push(KeyValue::new(
            meta_keys::SKIP_INDEX.to_string(),
            value.to_string(),
        ));
    }
    let schema = std::sync::Arc::clone(builder.schema());
    let reader = builder.build().expect("build");
    let props = WriterProperties::builder()
        .set_key_value_metadata(Some(kvs))
        .build();
    let mut out = Vec::new();
    let mut writer = ArrowWriter::try_new(&mut out, schema, Some(props)).expect("writer");
    for batch in reader {
        writer.write(&batch.expect("batch")).expect("write");
    }
    writer.close().expect("close");
    Bytes::from(out)
}

#[test]
fn written_segment_carries_the_index() {
    let rows = rows(1_000);
    let expected = SkipIndex::build(rows.iter().map(|r| &r.event));
    let segment = write(rows);
    let index = read_skip_index(segment.clone())
        .expect("read_skip_index")
        .expect("present");
    assert_eq!(index, expected);

    for token in ["get", "api", "v1", "users", "999", "took", "96ms", "200"] {
        assert!(index.may_contain_token(token), "{token}");
    }
    assert!(!index.may_contain_token("post"));
    assert_eq!(
        index
            .value_set(KeywordField::Service)
            .unwrap()
            .iter()
            .collect::<Vec<_>>(),
        ["api", "web"]
    );
    assert!(!index.field(KeywordField::Service).ever_missing());
    assert!(index.may_contain_status(Status::Error));
    assert!(!index.may_contain_status(Status::Warn));
    let code = &index.attributes().unwrap()["http.status_code"];
    assert_eq!(code.numeric_range(), Some((200.0, 204.0)));

    // The parsed footer gives the same index without re-reading the file.
    let metadata = parquet::file::metadata::ParquetMetaDataReader::new()
        .parse_and_finish(&segment)
        .unwrap();
    let kvs = metadata.file_metadata().key_value_metadata().unwrap();
    assert_eq!(
        SkipIndex::from_key_value_metadata(kvs).unwrap(),
        Some(expected)
    );
}

#[test]
fn segment_without_the_key_reads_as_before() {
    let rows = rows(50);
    let segment = write(rows.clone());
    let old = rewrite_with_skip_index(segment.clone(), None);
    assert_eq!(read_skip_index(old.clone()).unwrap(), None);
    assert_eq!(read_meta(old.clone()).unwrap(), read_meta(segment).unwrap());
    assert_eq!(read_segment(old).unwrap().len(), rows.len());
}

#[test]
fn garbage_value_is_an_error_but_the_segment_still_reads() {
    let segment = write(rows(10));
    for garbage in ["", "!!! not base64", "AAAA", "AQ==", "AQA=", "AQAA"] {
        let bad = rewrite_with_skip_index(segment.clone(), Some(garbage));
        let err = read_skip_index(bad.clone()).unwrap_err();
        assert!(
            matches!(
                err,
                SegmentError::Metadata {
                    key: meta_keys::SKIP_INDEX,
                    ..
                }
            ),
            "{garbage:?}: {err}"
        );
        assert_eq!(read_segment(bad).unwrap().len(), 10);
    }
    // A later version of the encoding is not an error: it just cannot be used.
    let future = rewrite_with_skip_index(segment, Some("Ag=="));
    assert_eq!(read_skip_index(future).unwrap(), None);
}

#[test]
fn needle_token_is_filtered_out() {
    // 10 segments of 5,000 events; the needle is in one of them.
    let mut hits = 0;
    for segment in 0..10u64 {
        let mut rows = rows(5_000);
        for (i, row) in rows.iter_mut().enumerate() {
            row.event.message = format!(
                "user {} request {:x} from 10.0.{}.{} failed: code {}",
                segment * 5_000 + i as u64,
                (segment * 5_000 + i as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15),
                i % 256,
                (i / 256) % 256,
                i % 50
            );
        }
        if segment == 7 {
            rows[123].event.message.push_str(" NeedleToken42");
        }
        let index = read_skip_index(write(rows)).unwrap().unwrap();
        assert!(index.message_filter_fpp() <= 0.01);
        assert!(index.message_filter_bytes() <= 1 << 20);
        if index.may_contain_token("needletoken42") {
            hits += 1;
        }
        if segment == 7 {
            assert!(index.may_contain_token("needletoken42"));
        }
    }
    assert!(hits <= 2, "{hits} segments kept");
}
