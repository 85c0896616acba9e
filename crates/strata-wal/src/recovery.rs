//! Reading a WAL directory back: validation, replay, torn-tail and repair
//! decisions ([`scan`]), and carrying those decisions out ([`apply`]).

use std::io;
use std::path::{Path, PathBuf};

use crate::format::{
    check_file_header, count_valid_records, decode_record, file_header, file_name,
    find_valid_record, parse_file_name, FILE_HEADER_BYTES,
};
use crate::fs::{WalFile, WalFs};
use crate::WalError;

/// What recovery (or [`read_dir`](crate::read_dir)) found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecoveryReport {
    /// Valid records replayed (passed to the callback).
    pub records: u64,
    /// The highest sequence number ever made durable, even if its file was
    /// removed since: the next append gets `last_seq + 1`. 0 for a new WAL.
    pub last_seq: u64,
    /// Bytes cut off: a torn tail, plus in repair mode everything after the
    /// corruption (including deleted files). [`read_dir`](crate::read_dir)
    /// modifies nothing and reports the bytes it ignored.
    pub truncated_bytes: u64,
    /// WAL files found in the directory (before any repair deleted some).
    pub files: usize,
}

/// A file that is no longer written: every record in it has a seq in
/// `first_seq..=last_seq` (`last_seq == first_seq - 1` if it holds none).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ClosedFile {
    pub(crate) path: PathBuf,
    pub(crate) first_seq: u64,
    pub(crate) last_seq: u64,
}

/// The file appends go to.
#[derive(Debug)]
pub(crate) struct CurrentFile {
    pub(crate) file: Box<dyn WalFile>,
    pub(crate) path: PathBuf,
    pub(crate) first_seq: u64,
    pub(crate) len: u64,
}

/// A file that survives recovery.
#[derive(Debug)]
struct KeptFile {
    path: PathBuf,
    first_seq: u64,
    last_seq: u64,
    /// Its length once the fix (if it is the last file) is applied.
    len: u64,
}

/// What has to be done to the last kept file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fix {
    None,
    /// Cut it at this length: a torn tail, or the repair point.
    Truncate {
        len: u64,
        repair: bool,
    },
    /// It is shorter than a header: it was being created at the crash.
    RewriteHeader,
}

/// The outcome of [`scan`]: nothing has been modified yet.
#[derive(Debug)]
pub(crate) struct Scan {
    pub(crate) report: RecoveryReport,
    kept: Vec<KeptFile>,
    fix: Fix,
    /// Repair mode: files to delete, newest first.
    delete: Vec<PathBuf>,
    /// Repair mode: where the corruption is and what it is.
    repair: Option<(PathBuf, u64, String)>,
    dropped_records: u64,
    next_seq: u64,
}

/// The callback that receives each valid record.
pub(crate) type ReplayFn<'a> = dyn FnMut(u64, &[u8]) -> Result<(), WalError> + 'a;

/// A problem found while scanning that is corruption unless repair is on.
struct Damage {
    index: usize,
    offset: usize,
    reason: String,
    /// The first seq that was not recovered.
    seq: u64,
}

/// Reads every WAL file of `dir` in order, calls `replay` for each valid
/// record, and decides what recovery must change. With `repair` false, any
/// damage other than a torn tail of the last file is an error.
pub(crate) fn scan(
    fs: &dyn WalFs,
    dir: &Path,
    repair: bool,
    replay: &mut ReplayFn<'_>,
) -> Result<Scan, WalError> {
    let names = fs
        .list(dir)
        .map_err(|e| WalError::io("listing WAL directory", dir, e))?;
    let mut files: Vec<(u64, PathBuf)> = names
        .iter()
        .filter_map(|name| parse_file_name(name).map(|seq| (seq, dir.join(name))))
        .collect();
    files.sort_unstable_by_key(|(seq, _)| *seq);

    let mut report = RecoveryReport {
        files: files.len(),
        ..RecoveryReport::default()
    };
    let mut kept: Vec<KeptFile> = Vec::with_capacity(files.len());
    let mut fix = Fix::None;
    let mut next_seq: Option<u64> = None;
    let mut damage: Option<(Damage, Vec<u8>)> = None;

    for (index, (first_seq, path)) in files.iter().enumerate() {
        let first_seq = *first_seq;
        let is_last = index + 1 == files.len();
        let whole_file = |reason: String| Damage {
            index,
            offset: 0,
            reason,
            seq: first_seq,
        };
        if first_seq == 0 {
            let reason = "sequence numbers start at 1, not 0".to_string();
            damage = Some((
                Damage {
                    seq: 1,
                    ..whole_file(reason)
                },
                Vec::new(),
            ));
            break;
        }
        if let Some(expected) = next_seq {
            if first_seq != expected {
                let reason = format!(
                    "file starts at seq {first_seq} but the previous file ends at seq {}",
                    expected - 1
                );
                let damaged = Damage {
                    seq: expected,
                    ..whole_file(reason)
                };
                damage = Some((damaged, Vec::new()));
                break;
            }
        }
        let data = fs
            .read(path)
            .map_err(|e| WalError::io("reading WAL file", path, e))?;
        let unwritten_header = data.len() < FILE_HEADER_BYTES
            || (data.len() == FILE_HEADER_BYTES && data.iter().all(|&b| b == 0));
        if unwritten_header && is_last {
            // The crash hit while this file was being created.
            fix = Fix::RewriteHeader;
            kept.push(KeptFile {
                path: path.clone(),
                first_seq,
                last_seq: first_seq - 1,
                len: FILE_HEADER_BYTES as u64,
            });
            next_seq = Some(first_seq);
            break;
        }
        if data.len() < FILE_HEADER_BYTES {
            let reason = format!("{} bytes is shorter than the file header", data.len());
            damage = Some((whole_file(reason), data));
            break;
        }
        check_file_header(&data).map_err(|reason| WalError::BadHeader {
            file: path.clone(),
            reason,
        })?;

        let mut offset = FILE_HEADER_BYTES;
        let mut seq = first_seq;
        // (reason, whether it may be a torn write)
        let mut problem: Option<(String, bool)> = None;
        while offset < data.len() {
            match decode_record(&data, offset) {
                Ok(record) if record.seq == u64::MAX => {
                    // Reserved so that the next seq always exists.
                    problem = Some(("record has the reserved seq u64::MAX".into(), false));
                    break;
                }
                Ok(record) if record.seq == seq => {
                    replay(record.seq, record.payload)?;
                    report.records += 1;
                    offset += record.len;
                    seq += 1;
                }
                Ok(record) => {
                    let reason = format!("record has seq {}, expected seq {seq}", record.seq);
                    problem = Some((reason, false));
                    break;
                }
                Err(reason) => {
                    problem = Some((reason, true));
                    break;
                }
            }
        }
        next_seq = Some(seq);
        let Some((reason, maybe_torn)) = problem else {
            kept.push(KeptFile {
                path: path.clone(),
                first_seq,
                last_seq: seq - 1,
                len: data.len() as u64,
            });
            continue;
        };
        if maybe_torn && is_last && find_valid_record(&data, offset + 1, seq).is_none() {
            // A torn tail: the write of the last group did not complete.
            let cut = (data.len() - offset) as u64;
            report.truncated_bytes += cut;
            fix = Fix::Truncate {
                len: offset as u64,
                repair: false,
            };
            tracing::debug!(file = %path.display(), offset, cut, %reason, "torn tail in the last WAL file");
            kept.push(KeptFile {
                path: path.clone(),
                first_seq,
                last_seq: seq - 1,
                len: offset as u64,
            });
            break;
        }
        damage = Some((
            Damage {
                index,
                offset,
                reason,
                seq,
            },
            data,
        ));
        break;
    }

    let mut scan = Scan {
        report,
        kept,
        fix,
        delete: Vec::new(),
        repair: None,
        dropped_records: 0,
        next_seq: next_seq.unwrap_or(1),
    };
    if let Some((damage, data)) = damage {
        plan_repair(fs, &files, damage, &data, repair, &mut scan)?;
    }
    scan.report.last_seq = scan.next_seq - 1;
    Ok(scan)
}

/// Turns damage into an error, or (repair mode) into a plan to cut the log there.
fn plan_repair(
    fs: &dyn WalFs,
    files: &[(u64, PathBuf)],
    damage: Damage,
    data: &[u8],
    repair: bool,
    scan: &mut Scan,
) -> Result<(), WalError> {
    let (first_seq, path) = &files[damage.index];
    if !repair {
        return Err(WalError::Corrupt {
            file: path.clone(),
            offset: damage.offset as u64,
            reason: damage.reason,
        });
    }
    let mut dropped_bytes = data.len().saturating_sub(damage.offset) as u64;
    let mut dropped_records = count_valid_records(data, damage.offset, damage.seq);
    for (later_seq, later) in files[damage.index + 1..].iter().rev() {
        let bytes = fs
            .read(later)
            .map_err(|e| WalError::io("reading WAL file", later, e))?;
        dropped_bytes += bytes.len() as u64;
        dropped_records += count_valid_records(&bytes, FILE_HEADER_BYTES, *later_seq);
        scan.delete.push(later.clone());
    }
    if damage.offset >= FILE_HEADER_BYTES {
        // The file has a valid header and valid records before the damage: keep those.
        let len = damage.offset as u64;
        scan.kept.push(KeptFile {
            path: path.clone(),
            first_seq: *first_seq,
            last_seq: damage.seq - 1,
            len,
        });
        scan.fix = Fix::Truncate { len, repair: true };
    } else {
        // Nothing of the file is usable.
        scan.delete.push(path.clone());
        scan.fix = Fix::None;
    }
    scan.next_seq = damage.seq;
    scan.report.truncated_bytes += dropped_bytes;
    scan.dropped_records = dropped_records;
    scan.repair = Some((path.clone(), damage.offset as u64, damage.reason));
    Ok(())
}

fn sync_dir(fs: &dyn WalFs, dir: &Path) -> Result<(), WalError> {
    fs.sync_dir(dir)
        .map_err(|e| WalError::io("syncing WAL directory", dir, e))
}

/// Creates a new WAL file holding only its header, made durable (with `sync`).
pub(crate) fn create_file(
    fs: &dyn WalFs,
    dir: &Path,
    first_seq: u64,
    sync: bool,
) -> Result<CurrentFile, WalError> {
    let path = dir.join(file_name(first_seq));
    let mut file = fs
        .create(&path)
        .map_err(|e| WalError::io("creating WAL file", &path, e))?;
    file.write_all(&file_header())
        .map_err(|e| WalError::io("writing WAL file header", &path, e))?;
    if sync {
        file.sync_data()
            .map_err(|e| WalError::io("syncing WAL file", &path, e))?;
        sync_dir(fs, dir)?;
    }
    Ok(CurrentFile {
        file,
        path,
        first_seq,
        len: FILE_HEADER_BYTES as u64,
    })
}

/// Carries out what [`scan`] decided: deletes (repair), truncates or rewrites
/// the last file, and opens it (or a new one) for appending. Returns the
/// current file and the closed ones, oldest first.
pub(crate) fn apply(
    scan: Scan,
    fs: &dyn WalFs,
    dir: &Path,
    sync: bool,
) -> Result<(CurrentFile, Vec<ClosedFile>), WalError> {
    let Scan {
        report,
        mut kept,
        fix,
        delete,
        repair,
        dropped_records,
        next_seq,
    } = scan;
    for path in &delete {
        match fs.remove(path) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(WalError::io("removing WAL file", path, e)),
        }
    }
    if !delete.is_empty() && sync {
        sync_dir(fs, dir)?;
    }
    if let Some((file, offset, reason)) = &repair {
        tracing::error!(
            file = %file.display(),
            offset,
            %reason,
            dropped_bytes = report.truncated_bytes,
            dropped_records,
            deleted_files = delete.len(),
            next_seq,
            "WAL repair: truncated the log at a corrupt record; everything after it is lost \
             and its sequence numbers will be reused"
        );
    }

    let Some(last) = kept.pop() else {
        let current = create_file(fs, dir, next_seq, sync)?;
        return Ok((current, Vec::new()));
    };
    let mut file = fs
        .open_append(&last.path)
        .map_err(|e| WalError::io("opening WAL file", &last.path, e))?;
    match fix {
        Fix::None => {}
        Fix::Truncate { len, repair } => {
            file.set_len(len)
                .map_err(|e| WalError::io("truncating WAL file", &last.path, e))?;
            if sync {
                file.sync_data()
                    .map_err(|e| WalError::io("syncing WAL file", &last.path, e))?;
            }
            if !repair {
                tracing::warn!(
                    file = %last.path.display(),
                    offset = len,
                    truncated_bytes = report.truncated_bytes,
                    "truncated a torn tail of the WAL (an incomplete write at the crash)"
                );
            }
        }
        Fix::RewriteHeader => {
            file.set_len(0)
                .map_err(|e| WalError::io("truncating WAL file", &last.path, e))?;
            file.write_all(&file_header())
                .map_err(|e| WalError::io("writing WAL file header", &last.path, e))?;
            if sync {
                file.sync_data()
                    .map_err(|e| WalError::io("syncing WAL file", &last.path, e))?;
                sync_dir(fs, dir)?;
            }
            tracing::warn!(file = %last.path.display(), "rewrote the header of a WAL file that was being created at the crash");
        }
    }
    let closed = kept
        .into_iter()
        .map(|k| ClosedFile {
            path: k.path,
            first_seq: k.first_seq,
            last_seq: k.last_seq,
        })
        .collect();
    let current = CurrentFile {
        file,
        path: last.path,
        first_seq: last.first_seq,
        len: last.len,
    };
    Ok((current, closed))
}
