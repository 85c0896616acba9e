//! Segment files on the local disk: `DATA_DIR/segments/<tenant>/<hour_bucket_ns>/<id>.parquet`.

use std::collections::HashSet;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

/// The local segment directory.
#[derive(Debug, Clone)]
pub struct SegmentFiles {
    root: PathBuf,
}

impl SegmentFiles {
    /// Segments under `root` (usually `DATA_DIR/segments`).
    pub fn new(root: PathBuf) -> SegmentFiles {
        SegmentFiles { root }
    }

    /// The relative path of a new segment; it starts with the tenant id.
    pub fn relative_path(tenant: &str, hour_bucket_ns: i64, id: &str) -> String {
        format!("{tenant}/{hour_bucket_ns}/{id}.parquet")
    }

    /// Absolute path of a relative segment path.
    pub fn absolute(&self, relative: &str) -> PathBuf {
        self.root.join(relative)
    }

    /// Writes `bytes` durably: temp file, fsync, rename, fsync of the directory.
    pub fn write_durably(&self, relative: &str, bytes: &[u8]) -> std::io::Result<u64> {
        let path = self.absolute(relative);
        let dir = path
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| self.root.clone());
        let created = !dir.is_dir();
        fs::create_dir_all(&dir)?;
        if created {
            // New `<tenant>/<bucket>/` directories: their entries in the
            // parents must survive power loss too, up to the segment root.
            let mut ancestor = dir.parent();
            while let Some(parent) = ancestor {
                fs::File::open(parent)?.sync_all()?;
                if parent == self.root || !parent.starts_with(&self.root) {
                    break;
                }
                ancestor = parent.parent();
            }
        }
        let tmp = path.with_extension("parquet.tmp");
        {
            let mut file = fs::File::create(&tmp)?;
            file.write_all(bytes)?;
            file.sync_all()?;
        }
        fs::rename(&tmp, &path)?;
        fs::File::open(&dir)?.sync_all()?;
        Ok(bytes.len() as u64)
    }

    /// Reads a whole segment.
    pub fn read(&self, relative: &str) -> std::io::Result<Vec<u8>> {
        fs::read(self.absolute(relative))
    }

    /// Deletes every file under the root whose relative path is not in
    /// `known` (crash leftovers: unregistered segments and temp files).
    /// Returns how many were deleted.
    pub fn remove_orphans(&self, known: &HashSet<String>) -> std::io::Result<usize> {
        let mut removed = 0;
        if !self.root.exists() {
            return Ok(0);
        }
        let mut stack = vec![self.root.clone()];
        while let Some(dir) = stack.pop() {
            for entry in fs::read_dir(&dir)? {
                let entry = entry?;
                let path = entry.path();
                if entry.file_type()?.is_dir() {
                    stack.push(path);
                    continue;
                }
                let relative = path
                    .strip_prefix(&self.root)
                    .map(|p| p.to_string_lossy().replace('\\', "/"));
                let is_known = relative
                    .as_ref()
                    .map(|r| known.contains(r))
                    .unwrap_or(false);
                if !is_known {
                    tracing::warn!(path = %path.display(), "removing unregistered segment file left by a crash");
                    fs::remove_file(&path)?;
                    removed += 1;
                }
            }
        }
        Ok(removed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn orphans_are_removed_and_known_files_kept() {
        let dir = tempfile::tempdir().unwrap();
        let files = SegmentFiles::new(dir.path().join("segments"));
        let known = SegmentFiles::relative_path("t", 0, "a");
        files.write_durably(&known, b"x").unwrap();
        files
            .write_durably(&SegmentFiles::relative_path("t", 0, "b"), b"y")
            .unwrap();
        fs::write(files.absolute("t/0/c.parquet.tmp"), b"z").unwrap();
        let removed = files
            .remove_orphans(&HashSet::from([known.clone()]))
            .unwrap();
        assert_eq!(removed, 2);
        assert_eq!(files.read(&known).unwrap(), b"x");
    }
}
