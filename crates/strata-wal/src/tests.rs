//! Recovery, group commit, rotation and fault-injection tests.

use std::fs;
use std::future::Future;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;

use crate::format::{encode_record, file_header, file_name};
use crate::*;

type Replayed = Vec<(u64, Vec<u8>)>;

fn block_on<F: Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(future)
}

fn open_with(
    config: WalConfig,
    repair: bool,
) -> Result<(Wal<()>, RecoveryReport, Replayed), WalError> {
    let mut replayed = Vec::new();
    let mut options = WalOptions::new(config, |_, _: ()| {});
    options.repair = repair;
    let (wal, report) = Wal::open(options, |seq, payload| {
        replayed.push((seq, payload.to_vec()));
        Ok(())
    })?;
    Ok((wal, report, replayed))
}

fn open(dir: &Path, repair: bool) -> Result<(Wal<()>, RecoveryReport, Replayed), WalError> {
    open_with(WalConfig::test_config(dir), repair)
}

fn payload(seq: u64) -> Vec<u8> {
    format!("payload-{seq}").into_bytes()
}

/// A file holding `records` (seq, payload), with a valid header.
fn file_bytes(records: &[(u64, &[u8])]) -> Vec<u8> {
    let mut out = file_header().to_vec();
    for (seq, payload) in records {
        encode_record(&mut out, *seq, payload);
    }
    out
}

fn write_file(dir: &Path, first_seq: u64, bytes: &[u8]) -> PathBuf {
    let path = dir.join(file_name(first_seq));
    fs::write(&path, bytes).unwrap();
    path
}

fn wal_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "log"))
        .collect();
    files.sort();
    files
}

/// Offsets at which each record of `file_bytes(records)` starts.
fn record_offsets(records: &[(u64, &[u8])]) -> Vec<usize> {
    let mut offsets = Vec::new();
    let mut at = FILE_HEADER_BYTES;
    for (_, payload) in records {
        offsets.push(at);
        at += RECORD_HEADER_BYTES + payload.len();
    }
    offsets
}

const THREE: [(u64, &[u8]); 3] = [(1, b"first"), (2, b"second"), (3, b"third record")];

fn assert_corrupt_at(err: WalError, expected_file: &Path, expected_offset: usize) {
    match err {
        WalError::Corrupt {
            file,
            offset,
            reason,
        } => {
            assert_eq!(file, expected_file, "{reason}");
            assert_eq!(offset, expected_offset as u64, "{reason}");
        }
        other => panic!("expected Corrupt, got {other:?}"),
    }
}

#[test]
fn appends_get_seqs_from_one_and_replay_after_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let (wal, report, replayed) = open(dir.path(), false).unwrap();
    assert_eq!(report, RecoveryReport::default());
    assert!(replayed.is_empty());
    assert_eq!(wal.last_seq(), 0);
    for seq in 1..=5 {
        assert_eq!(block_on(wal.append(payload(seq), ())).unwrap(), seq);
    }
    assert_eq!(wal.last_seq(), 5);
    wal.close().unwrap();

    let (wal, report, replayed) = open(dir.path(), false).unwrap();
    assert_eq!(report.records, 5);
    assert_eq!(report.last_seq, 5);
    assert_eq!(report.files, 1);
    assert_eq!(report.truncated_bytes, 0);
    assert_eq!(
        replayed,
        (1..=5).map(|s| (s, payload(s))).collect::<Replayed>()
    );
    assert_eq!(block_on(wal.append(payload(6), ())).unwrap(), 6);
    wal.close().unwrap();
}

#[test]
fn open_creates_a_missing_directory() {
    let dir = tempfile::tempdir().unwrap();
    let nested = dir.path().join("a/b/wal");
    let (wal, _, _) = open(&nested, false).unwrap();
    assert_eq!(
        wal_files(&nested),
        vec![nested.join("wal-00000000000000000001.log")]
    );
    assert_eq!(fs::read(nested.join(file_name(1))).unwrap(), file_header());
    wal.close().unwrap();
}

#[test]
fn torn_tail_at_every_offset_of_the_last_record_is_truncated() {
    let full = file_bytes(&THREE);
    let last = record_offsets(&THREE)[2];
    for cut in last + 1..full.len() {
        let dir = tempfile::tempdir().unwrap();
        let path = write_file(dir.path(), 1, &full[..cut]);
        let (wal, report, replayed) = open(dir.path(), false).unwrap();
        assert_eq!(report.records, 2, "cut at {cut}");
        assert_eq!(report.last_seq, 2);
        assert_eq!(report.truncated_bytes, (cut - last) as u64);
        assert_eq!(
            replayed,
            vec![(1, b"first".to_vec()), (2, b"second".to_vec())]
        );
        assert_eq!(fs::read(&path).unwrap(), &full[..last], "cut at {cut}");
        assert_eq!(block_on(wal.append(b"again".to_vec(), ())).unwrap(), 3);
        wal.close().unwrap();
        let (_, report, replayed) = open(dir.path(), false).unwrap();
        assert_eq!(report.truncated_bytes, 0);
        assert_eq!(replayed.last().unwrap(), &(3, b"again".to_vec()));
    }
}

#[test]
fn torn_tail_inside_the_first_record_keeps_the_header() {
    let full = file_bytes(&THREE);
    let dir = tempfile::tempdir().unwrap();
    let path = write_file(dir.path(), 1, &full[..FILE_HEADER_BYTES + 3]);
    let (wal, report, replayed) = open(dir.path(), false).unwrap();
    assert_eq!(
        (report.records, report.last_seq, report.truncated_bytes),
        (0, 0, 3)
    );
    assert!(replayed.is_empty());
    assert_eq!(fs::read(&path).unwrap(), file_header());
    assert_eq!(block_on(wal.append(b"x".to_vec(), ())).unwrap(), 1);
    wal.close().unwrap();
}

#[test]
fn bad_crc_in_the_last_record_is_truncated() {
    let mut bytes = file_bytes(&THREE);
    let last = record_offsets(&THREE)[2];
    let end = bytes.len();
    bytes[end - 1] ^= 0x40;
    let dir = tempfile::tempdir().unwrap();
    let path = write_file(dir.path(), 1, &bytes);
    let (wal, report, replayed) = open(dir.path(), false).unwrap();
    assert_eq!(report.records, 2);
    assert_eq!(report.truncated_bytes, (end - last) as u64);
    assert_eq!(replayed.len(), 2);
    assert_eq!(fs::read(&path).unwrap(), &bytes[..last]);
    wal.close().unwrap();
}

#[test]
fn corrupt_record_in_the_middle_is_an_error() {
    let mut bytes = file_bytes(&THREE);
    let second = record_offsets(&THREE)[1];
    bytes[second + RECORD_HEADER_BYTES] ^= 1; // payload byte of record 2
    let dir = tempfile::tempdir().unwrap();
    let path = write_file(dir.path(), 1, &bytes);

    let err = open(dir.path(), false).unwrap_err();
    assert_corrupt_at(err, &path, second);
    assert_eq!(
        fs::read(&path).unwrap(),
        bytes,
        "a failed recovery modifies nothing"
    );
    let err = read_dir(dir.path(), |_, _| Ok(())).unwrap_err();
    assert_corrupt_at(err, &path, second);
}

#[test]
fn bad_length_in_the_middle_is_an_error() {
    let mut bytes = file_bytes(&THREE);
    let second = record_offsets(&THREE)[1];
    bytes[second..second + 4].copy_from_slice(&(MAX_PAYLOAD_BYTES as u32 + 1).to_le_bytes());
    let dir = tempfile::tempdir().unwrap();
    let path = write_file(dir.path(), 1, &bytes);
    assert_corrupt_at(open(dir.path(), false).unwrap_err(), &path, second);

    // A length that runs past the end of the file, with a valid record after it.
    bytes[second..second + 4].copy_from_slice(&1000u32.to_le_bytes());
    fs::write(&path, &bytes).unwrap();
    assert_corrupt_at(open(dir.path(), false).unwrap_err(), &path, second);
}

#[test]
fn repair_mode_truncates_at_a_corrupt_record() {
    let mut bytes = file_bytes(&THREE);
    let second = record_offsets(&THREE)[1];
    bytes[second + 4] ^= 0xFF; // crc of record 2
    let dir = tempfile::tempdir().unwrap();
    let path = write_file(dir.path(), 1, &bytes);

    let (wal, report, replayed) = open(dir.path(), true).unwrap();
    assert_eq!(replayed, vec![(1, b"first".to_vec())]);
    assert_eq!(report.records, 1);
    assert_eq!(report.last_seq, 1);
    assert_eq!(report.truncated_bytes, (bytes.len() - second) as u64);
    assert_eq!(fs::read(&path).unwrap(), &bytes[..second]);
    assert_eq!(
        block_on(wal.append(b"after repair".to_vec(), ())).unwrap(),
        2
    );
    wal.close().unwrap();

    let (_, report, replayed) = open(dir.path(), false).unwrap();
    assert_eq!(report.records, 2);
    assert_eq!(replayed[1], (2, b"after repair".to_vec()));
}

#[test]
fn invalid_record_in_an_earlier_file_is_corrupt_and_repair_deletes_later_files() {
    let dir = tempfile::tempdir().unwrap();
    let records: [(u64, &[u8]); 2] = [(1, b"one"), (2, b"two")];
    let full = file_bytes(&records);
    let second = record_offsets(&records)[1];
    // File 1 ends with an incomplete record 2: only a last file may be torn.
    let first = write_file(dir.path(), 1, &full[..full.len() - 1]);
    let later = write_file(dir.path(), 2, &file_bytes(&[(2, b"two"), (3, b"three")]));

    assert_corrupt_at(open(dir.path(), false).unwrap_err(), &first, second);
    assert_corrupt_at(
        read_dir(dir.path(), |_, _| Ok(())).unwrap_err(),
        &first,
        second,
    );

    let (wal, report, replayed) = open(dir.path(), true).unwrap();
    assert_eq!(replayed, vec![(1, b"one".to_vec())]);
    assert_eq!(report.files, 2);
    assert_eq!(report.last_seq, 1);
    assert!(!later.exists());
    assert_eq!(wal_files(dir.path()), vec![first.clone()]);
    assert_eq!(fs::read(&first).unwrap(), &full[..second]);
    assert_eq!(block_on(wal.append(b"x".to_vec(), ())).unwrap(), 2);
    wal.close().unwrap();
}

#[test]
fn empty_or_short_last_file_gets_its_header_rewritten() {
    let partial_headers: [&[u8]; 4] = [b"", b"STRAT", b"\0\0\0", &[0u8; FILE_HEADER_BYTES]];
    for partial in partial_headers {
        let dir = tempfile::tempdir().unwrap();
        let path = write_file(dir.path(), 1, partial);
        let (wal, report, replayed) = open(dir.path(), false).unwrap();
        assert_eq!((report.records, report.last_seq, report.files), (0, 0, 1));
        assert!(replayed.is_empty());
        assert_eq!(fs::read(&path).unwrap(), file_header());
        assert_eq!(block_on(wal.append(b"x".to_vec(), ())).unwrap(), 1);
        wal.close().unwrap();
    }

    // Crash while rotating: the new file's name carries the next seq.
    let dir = tempfile::tempdir().unwrap();
    write_file(dir.path(), 1, &file_bytes(&THREE));
    let empty = write_file(dir.path(), 4, b"");
    let (wal, report, _) = open(dir.path(), false).unwrap();
    assert_eq!((report.records, report.last_seq, report.files), (3, 3, 2));
    assert_eq!(fs::read(&empty).unwrap(), file_header());
    assert_eq!(block_on(wal.append(b"x".to_vec(), ())).unwrap(), 4);
    wal.close().unwrap();
}

#[test]
fn short_file_that_is_not_last_is_corrupt() {
    let dir = tempfile::tempdir().unwrap();
    let short = write_file(dir.path(), 1, b"STRATA");
    write_file(dir.path(), 1_000, &file_bytes(&[]));
    assert_corrupt_at(open(dir.path(), false).unwrap_err(), &short, 0);
}

#[test]
fn wrong_magic_is_bad_header_even_in_repair_mode() {
    let dir = tempfile::tempdir().unwrap();
    let mut bytes = file_bytes(&THREE);
    bytes[..8].copy_from_slice(b"NOTAWAL!");
    let path = write_file(dir.path(), 1, &bytes);
    for repair in [false, true] {
        match open(dir.path(), repair).unwrap_err() {
            WalError::BadHeader { file, reason } => {
                assert_eq!(file, path);
                assert!(reason.contains("magic"), "{reason}");
            }
            other => panic!("expected BadHeader, got {other:?}"),
        }
    }
    assert_eq!(fs::read(&path).unwrap(), bytes, "never modified");
    assert!(matches!(
        read_dir(dir.path(), |_, _| Ok(())),
        Err(WalError::BadHeader { .. })
    ));
}

#[test]
fn unknown_version_is_bad_header() {
    let dir = tempfile::tempdir().unwrap();
    let mut bytes = file_bytes(&THREE);
    bytes[8..12].copy_from_slice(&2u32.to_le_bytes());
    let path = write_file(dir.path(), 1, &bytes);
    match open(dir.path(), true).unwrap_err() {
        WalError::BadHeader { file, reason } => {
            assert_eq!(file, path);
            assert!(reason.contains("version 2"), "{reason}");
        }
        other => panic!("expected BadHeader, got {other:?}"),
    }
    assert_eq!(fs::read(&path).unwrap(), bytes);
}

#[test]
fn record_with_the_wrong_seq_is_corrupt_even_at_the_tail() {
    for bad_seq in [4, 2, 1] {
        let records: [(u64, &[u8]); 3] = [(1, b"a"), (2, b"b"), (bad_seq, b"c")];
        let dir = tempfile::tempdir().unwrap();
        let path = write_file(dir.path(), 1, &file_bytes(&records));
        let offset = record_offsets(&records)[2];
        assert_corrupt_at(open(dir.path(), false).unwrap_err(), &path, offset);

        let (wal, report, _) = open(dir.path(), true).unwrap();
        assert_eq!(report.last_seq, 2);
        assert_eq!(block_on(wal.append(b"c".to_vec(), ())).unwrap(), 3);
        wal.close().unwrap();
    }
}

#[test]
fn first_record_must_match_the_file_name() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_file(dir.path(), 5, &file_bytes(&[(6, b"a")]));
    assert_corrupt_at(
        open(dir.path(), false).unwrap_err(),
        &path,
        FILE_HEADER_BYTES,
    );
}

#[test]
fn gap_between_files_is_corrupt() {
    let dir = tempfile::tempdir().unwrap();
    write_file(dir.path(), 1, &file_bytes(&[(1, b"a"), (2, b"b")]));
    let gap = write_file(dir.path(), 5, &file_bytes(&[(5, b"e")]));
    assert_corrupt_at(open(dir.path(), false).unwrap_err(), &gap, 0);

    // Going backwards: the second file starts inside the first one's range.
    let dir = tempfile::tempdir().unwrap();
    write_file(dir.path(), 1, &file_bytes(&[(1, b"a"), (2, b"b")]));
    let overlap = write_file(dir.path(), 2, &file_bytes(&[(2, b"b")]));
    assert_corrupt_at(open(dir.path(), false).unwrap_err(), &overlap, 0);

    // Repair keeps the first file and deletes the rest.
    let (wal, report, _) = open(dir.path(), true).unwrap();
    assert_eq!(report.last_seq, 2);
    assert!(!overlap.exists());
    assert_eq!(block_on(wal.append(b"c".to_vec(), ())).unwrap(), 3);
    wal.close().unwrap();
}

#[test]
fn replay_error_aborts_open_and_modifies_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut bytes = file_bytes(&THREE);
    bytes.extend_from_slice(b"torn");
    let path = write_file(dir.path(), 1, &bytes);
    let options = WalOptions::new(WalConfig::test_config(dir.path()), |_, _: ()| {});
    let err = Wal::open(options, |seq, _| {
        if seq == 2 {
            Err(WalError::Replay("bad batch".into()))
        } else {
            Ok(())
        }
    })
    .unwrap_err();
    assert!(
        matches!(err, WalError::Replay(ref m) if m == "bad batch"),
        "{err:?}"
    );
    assert_eq!(fs::read(&path).unwrap(), bytes);
}

#[test]
fn unrelated_files_are_ignored() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("README"), b"hello").unwrap();
    fs::write(dir.path().join("wal-1.log"), b"not ours").unwrap();
    let (wal, report, _) = open(dir.path(), false).unwrap();
    assert_eq!(report.files, 0);
    wal.close().unwrap();
    assert_eq!(fs::read(dir.path().join("wal-1.log")).unwrap(), b"not ours");
}

fn rotating_config(dir: &Path, max_file_bytes: u64) -> WalConfig {
    WalConfig {
        max_file_bytes,
        ..WalConfig::test_config(dir)
    }
}

#[test]
fn seq_continues_after_remove_through_removed_every_closed_file() {
    let dir = tempfile::tempdir().unwrap();
    // max_file_bytes 0: every group rotates.
    let (wal, _, _) = open_with(rotating_config(dir.path(), 0), false).unwrap();
    for seq in 1..=5 {
        assert_eq!(block_on(wal.append(payload(seq), ())).unwrap(), seq);
    }
    assert_eq!(wal_files(dir.path()).len(), 6);
    assert_eq!(wal.remove_through(5).unwrap(), 5);
    assert_eq!(wal_files(dir.path()), vec![dir.path().join(file_name(6))]);
    assert_eq!(
        wal.remove_through(u64::MAX).unwrap(),
        0,
        "the current file is never removed"
    );
    wal.close().unwrap();

    let (wal, report, replayed) = open_with(rotating_config(dir.path(), 0), false).unwrap();
    assert_eq!((report.records, report.last_seq, report.files), (0, 5, 1));
    assert!(replayed.is_empty());
    assert_eq!(wal.last_seq(), 5);
    assert_eq!(block_on(wal.append(payload(6), ())).unwrap(), 6);
    wal.close().unwrap();
}

#[test]
fn rotation_and_remove_through_never_remove_unremovable_records() {
    let dir = tempfile::tempdir().unwrap();
    let config = rotating_config(dir.path(), 100);
    let (wal, _, _) = open_with(config.clone(), false).unwrap();
    for seq in 1..=30 {
        assert_eq!(block_on(wal.append(payload(seq), ())).unwrap(), seq);
    }
    let files = wal_files(dir.path());
    assert!(files.len() > 3, "{files:?}");

    let mut expected_first = 1;
    for through in [0, 7, 8, 19, 29, u64::MAX] {
        wal.remove_through(through).unwrap();
        let mut seqs = Vec::new();
        read_dir(dir.path(), |seq, payload_bytes| {
            assert_eq!(payload_bytes, payload(seq));
            seqs.push(seq);
            Ok(())
        })
        .unwrap();
        // Every record after `through` is still there, and the log stays contiguous.
        let first = seqs[0];
        assert!(
            first <= through.saturating_add(1),
            "through {through}: first {first}"
        );
        assert!(first >= expected_first);
        assert_eq!(seqs, (first..=30).collect::<Vec<_>>());
        expected_first = first;
    }
    // Only the current file is left, and it holds the latest record(s).
    assert_eq!(wal_files(dir.path()).len(), 1);
    wal.close().unwrap();

    let (wal, report, replayed) = open_with(config, false).unwrap();
    assert_eq!(report.last_seq, 30);
    assert_eq!(
        replayed.last().map(|r| r.0),
        if report.records > 0 { Some(30) } else { None }
    );
    assert_eq!(block_on(wal.append(payload(31), ())).unwrap(), 31);
    wal.close().unwrap();
}

#[test]
fn reopened_wal_knows_its_closed_files() {
    let dir = tempfile::tempdir().unwrap();
    let config = rotating_config(dir.path(), 0);
    let (wal, _, _) = open_with(config.clone(), false).unwrap();
    for seq in 1..=3 {
        block_on(wal.append(payload(seq), ())).unwrap();
    }
    wal.close().unwrap();
    let (wal, report, _) = open_with(config, false).unwrap();
    assert_eq!(report.files, 4);
    assert_eq!(wal.remove_through(2).unwrap(), 2);
    assert_eq!(wal.remove_through(3).unwrap(), 1);
    assert_eq!(wal_files(dir.path()), vec![dir.path().join(file_name(4))]);
    wal.close().unwrap();
}

type Committed = Arc<Mutex<Vec<(u64, u64)>>>;

/// A WAL whose first `on_commit` call holds the writer thread.
struct Gated {
    wal: Wal<u64>,
    /// Receives once the writer is held.
    entered: mpsc::Receiver<()>,
    /// Send to release the writer.
    gate: mpsc::Sender<()>,
    /// (seq, item) pairs passed to on_commit.
    committed: Committed,
    groups: Arc<Mutex<Vec<GroupStats>>>,
}

/// Opens a WAL whose `on_commit` records (seq, item) and whose first
/// `on_commit` call blocks until `gate` is used (so everything appended
/// meanwhile queues up behind it).
fn gated_wal(config: WalConfig, fs: Arc<dyn WalFs>) -> Gated {
    let (gate_tx, gate_rx) = mpsc::channel::<()>();
    let (entered_tx, entered) = mpsc::channel::<()>();
    let committed: Committed = Arc::new(Mutex::new(Vec::new()));
    let groups = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&committed);
    let group_sink = Arc::clone(&groups);
    let mut first = true;
    let options = WalOptions {
        config,
        on_commit: Box::new(move |seq, item: u64| {
            if std::mem::take(&mut first) {
                let _ = entered_tx.send(());
                // A bound so a failing test cannot hang forever; not a timing assert.
                let _ = gate_rx.recv_timeout(Duration::from_secs(60));
            }
            sink.lock().unwrap().push((seq, item));
        }),
        on_group: Some(Box::new(move |stats: &GroupStats| {
            group_sink.lock().unwrap().push(stats.clone());
        })),
        repair: false,
    };
    let (wal, _) = Wal::open_with_fs(options, fs, |_, _| Ok(())).unwrap();
    Gated {
        wal,
        entered,
        gate: gate_tx,
        committed,
        groups,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn group_commit_groups_concurrent_appends() {
    const RECORDS: usize = 100;
    let dir = tempfile::tempdir().unwrap();
    let Gated {
        wal,
        gate,
        committed,
        groups,
        ..
    } = gated_wal(WalConfig::test_config(dir.path()), Arc::new(StdFs));
    let submitted = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for item in 0..RECORDS as u64 {
        let wal = wal.clone();
        let submitted = Arc::clone(&submitted);
        let committed = Arc::clone(&committed);
        tasks.push(tokio::spawn(async move {
            let answer = wal.append(payload(item), item);
            submitted.fetch_add(1, Ordering::SeqCst);
            let seq = answer.await.unwrap();
            // on_commit ran before the future resolved.
            assert!(committed.lock().unwrap().contains(&(seq, item)));
            seq
        }));
    }
    // Everything is queued while the writer is held in the first on_commit.
    while submitted.load(Ordering::SeqCst) < RECORDS {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    gate.send(()).unwrap();
    let mut seqs = Vec::new();
    for task in tasks {
        seqs.push(task.await.unwrap());
    }
    seqs.sort_unstable();
    assert_eq!(seqs, (1..=RECORDS as u64).collect::<Vec<_>>());

    let groups = groups.lock().unwrap().clone();
    assert!(
        groups.len() < RECORDS,
        "{} groups for {RECORDS} records",
        groups.len()
    );
    assert!(
        groups.len() <= 2,
        "all queued behind the first group form one: {groups:?}"
    );
    assert_eq!(groups.iter().map(|g| g.records).sum::<usize>(), RECORDS);
    let bytes: usize = (0..RECORDS as u64)
        .map(|i| RECORD_HEADER_BYTES + payload(i).len())
        .sum();
    assert_eq!(groups.iter().map(|g| g.bytes).sum::<usize>(), bytes);
    wal.close().unwrap();
}

#[test]
fn max_group_bytes_bounds_a_group() {
    let dir = tempfile::tempdir().unwrap();
    let record = RECORD_HEADER_BYTES + 100;
    let config = WalConfig {
        max_group_bytes: 3 * record,
        ..WalConfig::test_config(dir.path())
    };
    let Gated {
        wal,
        gate,
        committed,
        groups,
        ..
    } = gated_wal(config, Arc::new(StdFs));
    let answers: Vec<_> = (0..10).map(|i| wal.append(vec![7; 100], i)).collect();
    gate.send(()).unwrap();
    for answer in answers {
        block_on(answer).unwrap();
    }
    let groups = groups.lock().unwrap().clone();
    assert!(
        groups
            .iter()
            .all(|g| g.records <= 3 && g.bytes <= 3 * record),
        "{groups:?}"
    );
    assert!(groups.len() >= 4);
    assert_eq!(committed.lock().unwrap().len(), 10);
    // A record larger than max_group_bytes still goes (alone).
    assert_eq!(block_on(wal.append(vec![1; 10 * record], 10)).unwrap(), 11);
    assert_eq!(committed.lock().unwrap().len(), 11);
    wal.close().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_commit_runs_in_seq_order_before_the_future_resolves() {
    let dir = tempfile::tempdir().unwrap();
    let committed: Arc<Mutex<Vec<u64>>> = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&committed);
    let options = WalOptions::new(
        WalConfig::test_config(dir.path()),
        move |seq, _task: usize| {
            let mut seqs = sink.lock().unwrap();
            assert!(
                seqs.last().is_none_or(|&last| last + 1 == seq),
                "{seq} after {seqs:?}"
            );
            seqs.push(seq);
        },
    );
    let (wal, _) = Wal::open(options, |_, _| Ok(())).unwrap();
    let mut tasks = Vec::new();
    for task in 0..8 {
        let wal = wal.clone();
        let committed = Arc::clone(&committed);
        tasks.push(tokio::spawn(async move {
            let mut last = 0;
            for i in 0..50 {
                let seq = wal.append(payload(i), task).await.unwrap();
                assert!(seq > last, "seqs increase for one appender");
                last = seq;
                // on_commit(seq) already ran, and so did every earlier seq's.
                assert!(committed.lock().unwrap().len() as u64 >= seq);
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    assert_eq!(*committed.lock().unwrap(), (1..=400).collect::<Vec<u64>>());
    wal.close().unwrap();
}

/// Which faults to inject into [`FaultyFs`].
#[derive(Debug, Default)]
struct Faults {
    fail_sync: AtomicBool,
    fail_write: AtomicBool,
    fail_create: AtomicBool,
    /// sync_data calls made while `fail_sync` was set.
    failed_syncs: AtomicUsize,
    /// sync_data calls in total.
    syncs: AtomicUsize,
}

fn injected(what: &str) -> io::Error {
    io::Error::other(format!("injected {what} failure"))
}

#[derive(Debug)]
struct FaultyFs {
    faults: Arc<Faults>,
}

#[derive(Debug)]
struct FaultyFile {
    inner: Box<dyn WalFile>,
    faults: Arc<Faults>,
}

impl WalFile for FaultyFile {
    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        if self.faults.fail_write.load(Ordering::SeqCst) {
            return Err(injected("write"));
        }
        self.inner.write_all(buf)
    }

    fn sync_data(&mut self) -> io::Result<()> {
        self.faults.syncs.fetch_add(1, Ordering::SeqCst);
        if self.faults.fail_sync.load(Ordering::SeqCst) {
            self.faults.failed_syncs.fetch_add(1, Ordering::SeqCst);
            return Err(injected("fsync"));
        }
        self.inner.sync_data()
    }

    fn set_len(&mut self, len: u64) -> io::Result<()> {
        self.inner.set_len(len)
    }
}

impl WalFs for FaultyFs {
    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        StdFs.create_dir_all(dir)
    }

    fn list(&self, dir: &Path) -> io::Result<Vec<String>> {
        StdFs.list(dir)
    }

    fn read(&self, path: &Path) -> io::Result<Vec<u8>> {
        StdFs.read(path)
    }

    fn create(&self, path: &Path) -> io::Result<Box<dyn WalFile>> {
        if self.faults.fail_create.load(Ordering::SeqCst) {
            return Err(injected("create"));
        }
        let inner = StdFs.create(path)?;
        Ok(Box::new(FaultyFile {
            inner,
            faults: Arc::clone(&self.faults),
        }))
    }

    fn open_append(&self, path: &Path) -> io::Result<Box<dyn WalFile>> {
        let inner = StdFs.open_append(path)?;
        Ok(Box::new(FaultyFile {
            inner,
            faults: Arc::clone(&self.faults),
        }))
    }

    fn remove(&self, path: &Path) -> io::Result<()> {
        StdFs.remove(path)
    }

    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        StdFs.sync_dir(dir)
    }
}

fn faulty() -> (Arc<Faults>, Arc<dyn WalFs>) {
    let faults = Arc::new(Faults::default());
    (Arc::clone(&faults), Arc::new(FaultyFs { faults }))
}

#[test]
fn fsync_failure_poisons_the_group_and_every_later_append() {
    let dir = tempfile::tempdir().unwrap();
    let (faults, fs) = faulty();
    let Gated {
        wal,
        entered,
        gate,
        committed,
        groups,
    } = gated_wal(WalConfig::test_config(dir.path()), fs);

    // Seq 1 is durable; its on_commit holds the writer while a group queues.
    let first = wal.append(payload(1), 1);
    entered.recv_timeout(Duration::from_secs(60)).unwrap();
    let queued: Vec<_> = (2..=11).map(|i| wal.append(payload(i), i)).collect();
    faults.fail_sync.store(true, Ordering::SeqCst);
    gate.send(()).unwrap();
    assert_eq!(block_on(first).unwrap(), 1);
    for answer in queued {
        assert!(matches!(block_on(answer), Err(WalError::Poisoned)));
    }
    assert!(wal.is_poisoned());
    assert_eq!(
        faults.failed_syncs.load(Ordering::SeqCst),
        1,
        "one fsync for the group, never retried"
    );

    // Every later append fails at once, without touching the disk.
    let syncs = faults.syncs.load(Ordering::SeqCst);
    for i in 0..3 {
        assert!(matches!(
            block_on(wal.append(payload(i), i)),
            Err(WalError::Poisoned)
        ));
    }
    assert_eq!(faults.syncs.load(Ordering::SeqCst), syncs);
    // on_commit and on_group ran only for the durable group.
    assert_eq!(*committed.lock().unwrap(), vec![(1, 1)]);
    assert_eq!(groups.lock().unwrap().len(), 1);
    assert_eq!(wal.last_seq(), 1);
    assert!(matches!(wal.close(), Err(WalError::Poisoned)));
}

#[test]
fn write_failure_poisons_the_wal() {
    let dir = tempfile::tempdir().unwrap();
    let (faults, fs) = faulty();
    let options = WalOptions::new(WalConfig::test_config(dir.path()), |_, _: ()| {});
    let (wal, _) = Wal::open_with_fs(options, fs, |_, _| Ok(())).unwrap();
    assert_eq!(block_on(wal.append(payload(1), ())).unwrap(), 1);
    faults.fail_write.store(true, Ordering::SeqCst);
    assert!(matches!(
        block_on(wal.append(payload(2), ())),
        Err(WalError::Poisoned)
    ));
    faults.fail_write.store(false, Ordering::SeqCst);
    assert!(matches!(
        block_on(wal.append(payload(3), ())),
        Err(WalError::Poisoned)
    ));
    assert!(matches!(wal.close(), Err(WalError::Poisoned)));

    // Reopening reads what is really on disk.
    let (wal, report, _) = open(dir.path(), false).unwrap();
    assert_eq!(report.last_seq, 1);
    assert_eq!(block_on(wal.append(payload(2), ())).unwrap(), 2);
    wal.close().unwrap();
}

#[test]
fn rotation_failure_poisons_the_wal_after_acknowledging_the_group() {
    let dir = tempfile::tempdir().unwrap();
    let (faults, fs) = faulty();
    let options = WalOptions::new(rotating_config(dir.path(), 0), |_, _: ()| {});
    let (wal, _) = Wal::open_with_fs(options, fs, |_, _| Ok(())).unwrap();
    faults.fail_create.store(true, Ordering::SeqCst);
    assert_eq!(
        block_on(wal.append(payload(1), ())).unwrap(),
        1,
        "the group itself is durable"
    );
    assert!(wal.is_poisoned());
    assert!(matches!(
        block_on(wal.append(payload(2), ())),
        Err(WalError::Poisoned)
    ));
    let _ = wal.close();
    let (_, report, replayed) = open(dir.path(), false).unwrap();
    assert_eq!((report.last_seq, replayed.len()), (1, 1));
}

#[test]
fn panicking_on_commit_poisons_the_wal() {
    let dir = tempfile::tempdir().unwrap();
    let options = WalOptions::new(WalConfig::test_config(dir.path()), |seq, _: ()| {
        assert!(seq < 2, "on_commit refuses seq {seq}");
    });
    let (wal, _) = Wal::open(options, |_, _| Ok(())).unwrap();
    assert_eq!(block_on(wal.append(payload(1), ())).unwrap(), 1);
    assert!(matches!(
        block_on(wal.append(payload(2), ())),
        Err(WalError::Poisoned)
    ));
    assert!(wal.is_poisoned());
    assert!(matches!(
        block_on(wal.append(payload(3), ())),
        Err(WalError::Poisoned)
    ));
    assert!(matches!(wal.close(), Err(WalError::Poisoned)));
}

#[test]
fn read_dir_with_a_torn_tail_modifies_nothing() {
    let dir = tempfile::tempdir().unwrap();
    write_file(dir.path(), 1, &file_bytes(&THREE[..1]));
    let mut torn = file_bytes(&THREE[1..]);
    let cut = torn.len() - 3;
    torn.truncate(cut);
    let last = write_file(dir.path(), 2, &torn);

    let mut seen = Vec::new();
    let report = read_dir(dir.path(), |seq, payload| {
        seen.push((seq, payload.to_vec()));
        Ok(())
    })
    .unwrap();
    assert_eq!(seen, vec![(1, b"first".to_vec()), (2, b"second".to_vec())]);
    let third = record_offsets(&THREE[1..])[1];
    assert_eq!(
        report,
        RecoveryReport {
            records: 2,
            last_seq: 2,
            truncated_bytes: (cut - third) as u64,
            files: 2
        }
    );
    assert_eq!(fs::read(&last).unwrap(), torn, "read_dir never truncates");

    // A short last file is tolerated too, and left alone.
    let short = write_file(dir.path(), 4, b"STR");
    fs::write(&last, file_bytes(&THREE[1..])).unwrap();
    let report = read_dir(dir.path(), |_, _| Ok(())).unwrap();
    assert_eq!((report.records, report.last_seq), (3, 3));
    assert_eq!(fs::read(&short).unwrap(), b"STR");
}

#[test]
fn read_dir_of_a_missing_directory_is_an_io_error() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope");
    assert!(matches!(
        read_dir(&missing, |_, _| Ok(())),
        Err(WalError::Io { .. })
    ));
    assert!(!missing.exists());
}

#[test]
fn closed_wal_rejects_appends() {
    let dir = tempfile::tempdir().unwrap();
    let (wal, _, _) = open(dir.path(), false).unwrap();
    let clone = wal.clone();
    wal.close().unwrap();
    wal.close().unwrap();
    assert!(matches!(
        block_on(clone.append(payload(1), ())),
        Err(WalError::Closed)
    ));
    assert!(!clone.is_poisoned());
}

#[test]
fn close_finishes_queued_appends() {
    let dir = tempfile::tempdir().unwrap();
    let (wal, _, _) = open(dir.path(), false).unwrap();
    let answers: Vec<_> = (1..=20).map(|i| wal.append(payload(i), ())).collect();
    wal.close().unwrap();
    for (i, answer) in answers.into_iter().enumerate() {
        assert_eq!(block_on(answer).unwrap(), i as u64 + 1);
    }
}

#[test]
fn oversized_payload_is_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let (wal, _, _) = open(dir.path(), false).unwrap();
    let err = block_on(wal.append(vec![0; MAX_PAYLOAD_BYTES + 1], ())).unwrap_err();
    assert!(matches!(err, WalError::PayloadTooLarge { .. }), "{err:?}");
    assert!(!wal.is_poisoned());
    assert_eq!(block_on(wal.append(payload(1), ())).unwrap(), 1);
    wal.close().unwrap();
}

#[test]
fn durability_none_writes_without_fsync() {
    let dir = tempfile::tempdir().unwrap();
    let (faults, fs) = faulty();
    let config = WalConfig {
        durability: Durability::None,
        ..rotating_config(dir.path(), 0)
    };
    let options = WalOptions::new(config, |_, _: ()| {});
    let (wal, _) = Wal::open_with_fs(options, fs, |_, _| Ok(())).unwrap();
    for seq in 1..=3 {
        assert_eq!(block_on(wal.append(payload(seq), ())).unwrap(), seq);
    }
    wal.close().unwrap();
    assert_eq!(faults.syncs.load(Ordering::SeqCst), 0);
    let (_, report, _) = open(dir.path(), false).unwrap();
    assert_eq!(report.last_seq, 3);
}

#[test]
fn wal_is_send_sync_and_its_future_is_static() {
    fn assert_send_sync<T: Send + Sync + Clone>() {}
    fn assert_static_send<F: Future + Send + 'static>(_: &F) {}
    assert_send_sync::<Wal<std::cell::Cell<u8>>>();
    let dir = tempfile::tempdir().unwrap();
    let (wal, _, _) = open(dir.path(), false).unwrap();
    let answer = wal.append(payload(1), ());
    assert_static_send(&answer);
    drop(wal.clone());
    assert_eq!(block_on(answer).unwrap(), 1);
    wal.close().unwrap();
}

#[test]
fn remove_through_while_appending_keeps_the_log_contiguous() {
    let dir = tempfile::tempdir().unwrap();
    let (wal, _, _) = open_with(rotating_config(dir.path(), 64), false).unwrap();
    let remover = {
        let wal = wal.clone();
        std::thread::spawn(move || {
            let mut removed = 0;
            while wal.last_seq() < 200 {
                removed += wal
                    .remove_through(wal.last_seq().saturating_sub(10))
                    .unwrap();
            }
            removed
        })
    };
    let answers: Vec<_> = (1..=200).map(|i| wal.append(payload(i), ())).collect();
    for (i, answer) in answers.into_iter().enumerate() {
        assert_eq!(block_on(answer).unwrap(), i as u64 + 1);
    }
    remover.join().unwrap();
    wal.close().unwrap();

    let mut seqs = Vec::new();
    read_dir(dir.path(), |seq, _| {
        seqs.push(seq);
        Ok(())
    })
    .unwrap();
    let first = seqs.first().copied().unwrap_or(201);
    assert_eq!(seqs, (first..=200).collect::<Vec<_>>());
    assert!(
        first <= 191,
        "records after the removal point survive (first {first})"
    );
}
