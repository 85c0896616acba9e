//! Per-column encodings (docs/segment-format.md §5), `column_sizes`, and the
//! sizing of the skip index's filters in large segments.

use bytes::Bytes;
use parquet::file::metadata::{ParquetMetaData, ParquetMetaDataReader};
use strata_segment::{
    column_sizes, read_segment, read_skip_index, write_segment, ColumnSize, SegmentOptions,
    SegmentRow, SkipIndex,
};
use strata_types::{event_id, AttrValue, Event, Status};

/// 2023-11-14T22:00:00Z, the start of an hour bucket.
const BASE: i64 = 1_699_999_200_000_000_000;

fn attr(path: &str, value: AttrValue) -> (String, AttrValue) {
    (path.to_string(), value)
}

/// Rows with one attribute column of each kind and cardinality: `u.*`
/// unique per row, `l.*` from a handful of values.
fn rows(n: u64) -> Vec<SegmentRow> {
    let specials = [
        f64::NAN,
        f64::from_bits(0x7ff8_dead_beef_0001), // a NaN with a payload
        -0.0,
        f64::INFINITY,
        f64::NEG_INFINITY,
        f64::MIN_POSITIVE,
    ];
    (0..n)
        .map(|i| {
            let mut e = Event::new(BASE + (i as i64) * 1_000_003, format!("request {i} done"));
            e.status = if i % 7 == 0 {
                Status::Error
            } else {
                Status::Info
            };
            e.service = Some(["web", "api"][(i % 2) as usize].to_string());
            e.host = Some(format!("host-{}", i % 5));
            e.trace_id = (i % 3 != 0).then(|| format!("{}", i.wrapping_mul(0x9e37_79b9_7f4a_7c15)));
            e.tags = vec!["env:prod".to_string()];
            let unique_float = specials
                .get(i as usize)
                .copied()
                .unwrap_or(i as f64 * 1.000_001);
            e.attributes = vec![
                attr("u.str", AttrValue::Str(format!("user-{i:08}"))),
                attr("u.int", AttrValue::Int((i as i64) * 7_919 - 1_000_000)),
                attr("u.float", AttrValue::Float(unique_float)),
                attr(
                    "l.str",
                    AttrValue::Str(["GET", "POST"][(i % 2) as usize].to_string()),
                ),
                attr("l.int", AttrValue::Int([200, 404, 500][(i % 3) as usize])),
                attr("l.float", AttrValue::Float([0.5, 1.5][(i % 2) as usize])),
                attr("flag", AttrValue::Bool(i % 2 == 0)),
            ];
            if i % 11 == 0 {
                // A second value of a path and a value of another type go to
                // `_overflow`, next to the high-cardinality columns.
                e.attributes
                    .push(attr("u.int", AttrValue::Str("again".to_string())));
            }
            SegmentRow {
                id: event_id(1 + i / 1000, (i % 1000) as u32),
                event: e,
            }
        })
        .collect()
}

fn footer(bytes: &Bytes) -> ParquetMetaData {
    ParquetMetaDataReader::new()
        .parse_and_finish(bytes)
        .expect("footer")
}

fn sorted(mut rows: Vec<SegmentRow>) -> Vec<SegmentRow> {
    for row in &mut rows {
        row.event.attributes.sort_by(|a, b| a.0.cmp(&b.0));
    }
    rows.sort_by(|a, b| a.id.cmp(&b.id));
    rows
}

fn write(rows: Vec<SegmentRow>, options: &SegmentOptions) -> Bytes {
    let mut out = Vec::new();
    write_segment(rows, options, &mut out).expect("write");
    Bytes::from(out)
}

/// The encodings of a column by name.
fn encodings(sizes: &[ColumnSize], name: &str) -> Vec<String> {
    sizes
        .iter()
        .find(|c| c.name == name)
        .unwrap_or_else(|| panic!("no column {name}"))
        .encodings
        .clone()
}

#[test]
fn columns_are_encoded_by_cardinality_and_round_trip() {
    let input = rows(3000);
    for options in [SegmentOptions::default(), SegmentOptions::compaction()] {
        let bytes = write(input.clone(), &options);
        let back = sorted(read_segment(bytes.clone()).expect("read"));
        // Bit-exact floats (NaN payloads, -0.0) through BYTE_STREAM_SPLIT.
        for (got, want) in back.iter().zip(sorted(input.clone())) {
            assert_eq!(got.id, want.id);
            assert_eq!(format!("{:?}", got.event), format!("{:?}", want.event));
            let bits = |e: &Event| -> Vec<u64> {
                e.attributes
                    .iter()
                    .filter_map(|(_, v)| match v {
                        AttrValue::Float(f) => Some(f.to_bits()),
                        _ => None,
                    })
                    .collect()
            };
            assert_eq!(bits(&got.event), bits(&want.event));
        }
        let sizes = column_sizes(&footer(&bytes));
        let has =
            |name: &str, encoding: &str| encodings(&sizes, name).iter().any(|e| e == encoding);
        assert!(has("id", "DELTA_BYTE_ARRAY"), "{sizes:?}");
        assert!(has("trace_id", "DELTA_LENGTH_BYTE_ARRAY"));
        assert!(has("message", "PLAIN"));
        assert!(has("timestamp", "DELTA_BINARY_PACKED"));
        for name in [
            "id",
            "timestamp",
            "trace_id",
            "message",
            "@u.str",
            "@u.int",
            "@u.float",
        ] {
            assert!(!has(name, "RLE_DICTIONARY"), "{name} has a dictionary");
        }
        assert!(has("@u.str", "DELTA_LENGTH_BYTE_ARRAY"));
        assert!(has("@u.int", "BYTE_STREAM_SPLIT"));
        assert!(has("@u.float", "BYTE_STREAM_SPLIT"));
        for name in ["@l.str", "@l.int", "@l.float", "status", "service", "host"] {
            assert!(
                has(name, "RLE_DICTIONARY"),
                "{name}: {:?}",
                encodings(&sizes, name)
            );
        }
    }
}

#[test]
fn small_row_groups_and_single_rows_round_trip() {
    for n in [1, 2, 9] {
        let input = rows(n);
        for row_group_rows in [1, 2, 1000] {
            let options = SegmentOptions {
                row_group_rows,
                ..SegmentOptions::default()
            };
            let back = read_segment(write(input.clone(), &options)).expect("read");
            assert_eq!(
                format!("{:?}", sorted(back)),
                format!("{:?}", sorted(input.clone()))
            );
        }
    }
}

#[test]
fn column_sizes_account_for_the_file() {
    let bytes = write(rows(2000), &SegmentOptions::default());
    let metadata = footer(&bytes);
    let sizes = column_sizes(&metadata);
    let leaves = metadata.file_metadata().schema_descr().num_columns();
    assert_eq!(sizes.len(), leaves + 1);
    assert_eq!(sizes[0].name, "id");
    assert!(sizes.iter().any(|c| c.name == "tags.list.item"));
    assert!(sizes.iter().any(|c| c.name == "@u.float"));
    for column in &sizes[..leaves] {
        assert!(column.compressed_bytes > 0, "{column:?}");
        assert!(column.uncompressed_bytes > 0, "{column:?}");
        assert!(column.encodings.iter().any(|e| e == "RLE"), "{column:?}");
    }
    let chunks: i64 = metadata
        .row_groups()
        .iter()
        .flat_map(|rg| rg.columns())
        .map(|c| c.compressed_size())
        .sum();
    let columns: u64 = sizes[..leaves].iter().map(|c| c.compressed_bytes).sum();
    assert_eq!(columns, chunks as u64);

    let skip = &sizes[leaves];
    assert_eq!(skip.name, ColumnSize::SKIP_INDEX);
    let index = read_skip_index(bytes.clone())
        .expect("skip index")
        .expect("present");
    assert_eq!(skip.uncompressed_bytes, index.encode().len() as u64);
    assert_eq!(
        skip.compressed_bytes,
        index.to_metadata_value().len() as u64
    );
    let total: u64 = sizes.iter().map(|c| c.compressed_bytes).sum();
    assert!(total < bytes.len() as u64);
}

#[test]
fn data_pages_hold_a_whole_row_group_up_to_8_mib() {
    let bytes = write(rows(5000), &SegmentOptions::compaction());
    let metadata = ParquetMetaDataReader::new()
        .with_page_indexes(true)
        .parse_and_finish(&bytes)
        .expect("page index");
    let offsets = metadata.offset_index().expect("offset index");
    for (rg, columns) in offsets.iter().enumerate() {
        for (c, column) in columns.iter().enumerate() {
            let pages = column.page_locations().len();
            let name = metadata.row_group(rg).column(c).column_path().string();
            assert_eq!(pages, 1, "{name}: {pages} pages");
        }
    }
}

#[test]
fn large_segments_get_token_filters_sized_for_their_tokens() {
    // 250,000 distinct tokens in 50,000 events: the filter starts at the
    // cap (960 KiB) and must end near what 1% needs (~11 bits per token),
    // not at a divisor of the cap.
    let events: Vec<Event> = (0..50_000u64)
        .map(|i| {
            let words: Vec<String> = (0..5).map(|k| format!("w{:x}", i * 5 + k)).collect();
            Event::new(BASE, words.join(" "))
        })
        .collect();
    let index = SkipIndex::build(&events);
    let bits_per_token = index.message_filter_bytes() as f64 * 8.0 / 250_000.0;
    assert!((10.0..12.5).contains(&bits_per_token), "{bits_per_token}");
    assert!(index.message_filter_fpp() <= 0.01);
    for i in (0..250_000u64).step_by(997) {
        assert!(index.may_contain_token(&format!("w{i:x}")), "lost w{i:x}");
    }
    let absent = (0..10_000)
        .filter(|i| index.may_contain_token(&format!("absent{i}")))
        .count();
    assert!(absent < 150, "{absent} false positives in 10,000");
}

#[test]
fn dictionaries_are_decided_on_rows_from_the_whole_input() {
    // Compaction hands over sorted runs: here 20,000 rows of a service
    // without the attribute, then 20,000 with unique values. A sample of the
    // first rows alone would see no value and keep a dictionary.
    let rows: Vec<SegmentRow> = (0..40_000u64)
        .map(|i| {
            let mut e = Event::new(BASE + i as i64, "m".to_string());
            if i >= 20_000 {
                e.attributes = vec![attr("span", AttrValue::Str(format!("{}", i * 7919)))];
            }
            SegmentRow {
                id: event_id(1, i as u32),
                event: e,
            }
        })
        .collect();
    let bytes = write(rows, &SegmentOptions::compaction());
    let sizes = column_sizes(&footer(&bytes));
    let span = encodings(&sizes, "@span");
    assert!(
        span.iter().any(|e| e == "DELTA_LENGTH_BYTE_ARRAY"),
        "{span:?}"
    );
    assert!(!span.iter().any(|e| e == "RLE_DICTIONARY"), "{span:?}");
}
