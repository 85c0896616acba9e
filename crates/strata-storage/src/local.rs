//! Durable writes for the local backend.
//!
//! `object_store`'s `LocalFileSystem::put` renames a temp file into place but
//! never fsyncs, so an acknowledged segment could vanish on power loss. Here a
//! put writes `<name>.<unique>.tmp` in the target directory, fsyncs it,
//! renames it into place, fsyncs the directory, and fsyncs the parents of
//! newly created directories up to the root. Crash leftovers end in `.tmp`,
//! which an orphan sweep recognises.

use std::fs;
use std::io::Write;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

/// Makes temp names unique within the process (concurrent puts of one path);
/// the pid separates processes sharing a directory.
static TMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// The suffix of every temp file this crate writes.
pub const TMP_SUFFIX: &str = ".tmp";

/// A temp path next to `path`: `<name>.<pid>-<n>.tmp`.
pub(crate) fn temp_path_for(path: &Path) -> std::path::PathBuf {
    let unique = TMP_COUNTER.fetch_add(1, Ordering::Relaxed);
    let name = path
        .file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp_name = format!("{name}.{}-{unique}{TMP_SUFFIX}", std::process::id());
    path.with_file_name(tmp_name)
}

/// Writes `bytes` to `path` (below `root`) durably; returns the length.
pub(crate) fn write_durably(root: &Path, path: &Path, bytes: &[u8]) -> std::io::Result<u64> {
    let dir = path.parent().unwrap_or(root);
    let created = !dir.is_dir();
    fs::create_dir_all(dir)?;
    if created {
        sync_new_parents(root, dir)?;
    }
    let tmp = temp_path_for(path);
    let written = write_and_sync(&tmp, bytes).and_then(|()| fs::rename(&tmp, path));
    if let Err(error) = written {
        // Best effort: a leftover temp file is also removed by the orphan sweep.
        let _ = fs::remove_file(&tmp);
        return Err(error);
    }
    fs::File::open(dir)?.sync_all()?;
    Ok(bytes.len() as u64)
}

fn write_and_sync(tmp: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut file = fs::File::create(tmp)?;
    file.write_all(bytes)?;
    file.sync_all()
}

/// New `<tenant>/<bucket>/` directories: their entries in the parents must
/// survive power loss too, up to the root.
fn sync_new_parents(root: &Path, dir: &Path) -> std::io::Result<()> {
    let mut ancestor = dir.parent();
    while let Some(parent) = ancestor {
        fs::File::open(parent)?.sync_all()?;
        if parent == root || !parent.starts_with(root) {
            break;
        }
        ancestor = parent.parent();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_create_parents_and_leave_no_temp_files() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("segments");
        fs::create_dir_all(&root).unwrap();
        let path = root.join("t/0/a.parquet");
        assert_eq!(write_durably(&root, &path, b"xyz").unwrap(), 3);
        assert_eq!(write_durably(&root, &path, b"new").unwrap(), 3);
        assert_eq!(fs::read(&path).unwrap(), b"new");
        let names: Vec<_> = fs::read_dir(root.join("t/0"))
            .unwrap()
            .map(|entry| entry.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("a.parquet")]);
    }

    #[test]
    fn temp_names_are_unique_and_end_in_tmp() {
        let path = Path::new("/r/t/0/a.parquet");
        let first = temp_path_for(path);
        let second = temp_path_for(path);
        assert_ne!(first, second);
        assert!(first.to_string_lossy().ends_with(TMP_SUFFIX));
        assert_eq!(first.parent(), path.parent());
    }
}
