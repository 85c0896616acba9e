//! Reading Parquet segments through the store (and so through the range
//! cache): an [`AsyncFileReader`] for one object, and blocking helpers for
//! the query engine's `spawn_blocking` threads.

use std::fmt;
use std::ops::Range;
use std::sync::Arc;

use arrow_array::RecordBatch;
use arrow_schema::SchemaRef;
use bytes::Bytes;
use futures::future::BoxFuture;
use futures::{FutureExt, StreamExt};
use parquet::arrow::arrow_reader::{ArrowReaderMetadata, ArrowReaderOptions, RowSelection};
use parquet::arrow::async_reader::{AsyncFileReader, ParquetRecordBatchStream};
use parquet::arrow::{ParquetRecordBatchStreamBuilder, ProjectionMask};
use parquet::file::metadata::{ParquetMetaData, ParquetMetaDataReader};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::error::{Result, StorageError};
use crate::runtime;
use crate::store::{validate_path, SegmentStore};

/// How many bytes at the end of a segment the footer read asks for at once.
/// Footers carry the skip index: 66-172 KB on merged segments of loadgen
/// data (docs/benchmarks.md, "Storage lifecycle"), so 256 KiB makes the
/// footer one request (one cache entry) in the usual case; a larger footer
/// costs a second request.
pub const FOOTER_PREFETCH_BYTES: usize = 256 * 1024;

/// Batches in flight between the reading task and the consuming thread.
const BATCH_CHANNEL_CAPACITY: usize = 2;

/// One Parquet object of a [`SegmentStore`], for `parquet`'s async reader.
/// Every read goes through the store, so through its range cache.
#[derive(Debug, Clone)]
pub struct StoreFileReader {
    store: SegmentStore,
    path: String,
    size: u64,
}

impl StoreFileReader {
    /// The object at `path`, whose size (from the catalog or `head`) is `size`.
    pub fn new(store: SegmentStore, path: &str, size: u64) -> StoreFileReader {
        StoreFileReader {
            store,
            path: path.to_string(),
            size,
        }
    }
}

impl AsyncFileReader for StoreFileReader {
    fn get_bytes(&mut self, range: Range<u64>) -> BoxFuture<'_, parquet::errors::Result<Bytes>> {
        async move {
            let data = self.store.get_range(&self.path, range).await?;
            Ok(data)
        }
        .boxed()
    }

    fn get_byte_ranges(
        &mut self,
        ranges: Vec<Range<u64>>,
    ) -> BoxFuture<'_, parquet::errors::Result<Vec<Bytes>>> {
        async move {
            let parts = self.store.get_ranges(&self.path, ranges).await?;
            Ok(parts)
        }
        .boxed()
    }

    /// Reads the footer with one prefetching request; page indexes are not
    /// read (Strata does not use them).
    fn get_metadata<'a>(
        &'a mut self,
        _options: Option<&'a ArrowReaderOptions>,
    ) -> BoxFuture<'a, parquet::errors::Result<Arc<ParquetMetaData>>> {
        async move {
            let size = self.size;
            let reader =
                ParquetMetaDataReader::new().with_prefetch_hint(Some(FOOTER_PREFETCH_BYTES));
            let metadata = reader.load_and_finish(self, size).await?;
            Ok(Arc::new(metadata))
        }
        .boxed()
    }
}

/// Record batches read by a task on the I/O runtime. Dropping the iterator
/// stops the task.
pub struct BatchIter {
    receiver: mpsc::Receiver<Result<RecordBatch>>,
    task: JoinHandle<Result<()>>,
    schema: SchemaRef,
}

impl fmt::Debug for BatchIter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BatchIter")
            .field("fields", &self.schema.fields().len())
            .finish()
    }
}

impl BatchIter {
    /// The schema of the batches (after projection).
    pub fn schema(&self) -> SchemaRef {
        SchemaRef::clone(&self.schema)
    }
}

impl Iterator for BatchIter {
    type Item = Result<RecordBatch>;

    /// Blocks until the next batch. Waits with `futures::executor::block_on`
    /// rather than `blocking_recv`, which panics when called from an async
    /// context.
    fn next(&mut self) -> Option<Self::Item> {
        futures::executor::block_on(self.receiver.recv())
    }
}

impl Drop for BatchIter {
    fn drop(&mut self) {
        // The task would also stop at its next send (the receiver is gone);
        // aborting stops it during a fetch too.
        self.task.abort();
    }
}

async fn forward_batches(
    mut stream: ParquetRecordBatchStream<StoreFileReader>,
    sender: mpsc::Sender<Result<RecordBatch>>,
) -> Result<()> {
    while let Some(item) = stream.next().await {
        let failed = item.is_err();
        let item = item.map_err(StorageError::from);
        if sender.send(item).await.is_err() {
            // The iterator was dropped.
            return Ok(());
        }
        if failed {
            return Ok(());
        }
    }
    Ok(())
}

impl SegmentStore {
    /// Reads a segment's footer (one request of the last
    /// [`FOOTER_PREFETCH_BYTES`], cached when a cache is configured).
    pub async fn read_metadata(&self, path: &str, size: u64) -> Result<ArrowReaderMetadata> {
        validate_path(path)?;
        let mut reader = StoreFileReader::new(self.clone(), path, size);
        let metadata =
            ArrowReaderMetadata::load_async(&mut reader, ArrowReaderOptions::new()).await?;
        Ok(metadata)
    }

    /// Blocking [`SegmentStore::read_metadata`].
    pub fn read_metadata_blocking(&self, path: &str, size: u64) -> Result<ArrowReaderMetadata> {
        let store = self.clone();
        let path = path.to_string();
        runtime::block_on(async move { store.read_metadata(&path, size).await })
    }

    /// Streams a segment's batches (only the `projection`'s columns and the
    /// `selection`'s rows) to the returned iterator, for a thread that is
    /// not running async code. Reading runs on the I/O runtime, at most two
    /// batches ahead of the consumer.
    pub fn read_batches_blocking(
        &self,
        path: &str,
        size: u64,
        metadata: &ArrowReaderMetadata,
        projection: Option<ProjectionMask>,
        selection: Option<RowSelection>,
        batch_size: usize,
    ) -> Result<BatchIter> {
        validate_path(path)?;
        let reader = StoreFileReader::new(self.clone(), path, size);
        let mut builder =
            ParquetRecordBatchStreamBuilder::new_with_metadata(reader, metadata.clone())
                .with_batch_size(batch_size.max(1));
        if let Some(projection) = projection {
            builder = builder.with_projection(projection);
        }
        if let Some(selection) = selection {
            builder = builder.with_row_selection(selection);
        }
        let stream = builder.build().map_err(StorageError::from)?;
        let schema = SchemaRef::clone(stream.schema());
        let (sender, receiver) = mpsc::channel(BATCH_CHANNEL_CAPACITY);
        let task = runtime::spawn(forward_batches(stream, sender))?;
        Ok(BatchIter {
            receiver,
            task,
            schema,
        })
    }
}

/// A small Parquet file for tests and the conformance suite: columns `id`
/// (Int64, 0..rows), `name` (Utf8, `"name-{id}"`), `value` (Int64, `id * 10`),
/// row groups of 100 rows.
pub(crate) fn sample_parquet(rows: usize) -> Bytes {
    use arrow_array::{ArrayRef, Int64Array, StringArray};
    use arrow_schema::{DataType, Field, Schema};
    use parquet::arrow::ArrowWriter;
    use parquet::file::properties::WriterProperties;

    let schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("name", DataType::Utf8, false),
        Field::new("value", DataType::Int64, false),
    ]));
    let ids: Vec<i64> = (0..rows as i64).collect();
    let names: Vec<String> = ids.iter().map(|id| format!("name-{id}")).collect();
    let values: Vec<i64> = ids.iter().map(|id| id * 10).collect();
    let columns: Vec<ArrayRef> = vec![
        Arc::new(Int64Array::from(ids)),
        Arc::new(StringArray::from(names)),
        Arc::new(Int64Array::from(values)),
    ];
    let batch = RecordBatch::try_new(Arc::clone(&schema), columns).expect("sample batch");
    let properties = WriterProperties::builder()
        .set_max_row_group_size(100)
        .build();
    let mut buffer = Vec::new();
    let mut writer =
        ArrowWriter::try_new(&mut buffer, schema, Some(properties)).expect("sample writer");
    writer.write(&batch).expect("sample write");
    writer.close().expect("sample close");
    Bytes::from(buffer)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::{Backend, CacheOptions};
    use crate::conformance::check_parquet_read;

    fn put_sample(store: &SegmentStore) -> (String, u64) {
        let path = SegmentStore::segment_path("t", 0, "sample");
        let size = store.put_blocking(&path, sample_parquet(1000)).unwrap();
        (path, size)
    }

    #[test]
    fn reads_projected_selected_batches_from_memory() {
        let store = SegmentStore::open(&Backend::Memory, None).unwrap();
        let (path, size) = put_sample(&store);
        check_parquet_read(&store, &path, size);
    }

    #[test]
    fn reads_from_local_and_the_footer_is_one_request() {
        let dir = tempfile::tempdir().unwrap();
        let backend = Backend::Local {
            root: dir.path().to_path_buf(),
        };
        let store = SegmentStore::open(&backend, None).unwrap();
        let (path, size) = put_sample(&store);
        let before = store.stats().gets;
        let metadata = store.read_metadata_blocking(&path, size).unwrap();
        assert_eq!(store.stats().gets - before, 1);
        assert_eq!(metadata.metadata().num_row_groups(), 10);
        check_parquet_read(&store, &path, size);
    }

    #[test]
    fn second_read_through_the_cache_is_all_hits() {
        let dir = tempfile::tempdir().unwrap();
        let cache = CacheOptions {
            dir: dir.path().join("cache"),
            max_bytes: 1 << 20,
        };
        let store = SegmentStore::open(&Backend::Memory, Some(cache)).unwrap();
        let (path, size) = put_sample(&store);
        check_parquet_read(&store, &path, size);
        let first = store.cache_stats().unwrap();
        assert!(first.misses > 0 && first.entries > 0, "{first:?}");
        let gets = store.stats().gets;
        check_parquet_read(&store, &path, size);
        let second = store.cache_stats().unwrap();
        assert_eq!(second.misses, first.misses, "{first:?} -> {second:?}");
        assert!(second.hits > first.hits, "{first:?} -> {second:?}");
        assert_eq!(
            store.stats().gets,
            gets,
            "no backend request on the second read"
        );
    }

    #[test]
    fn dropping_the_iterator_early_stops_reading() {
        let store = SegmentStore::open(&Backend::Memory, None).unwrap();
        let (path, size) = put_sample(&store);
        let metadata = store.read_metadata_blocking(&path, size).unwrap();
        let mut batches = store
            .read_batches_blocking(&path, size, &metadata, None, None, 10)
            .unwrap();
        let first = batches.next().unwrap().unwrap();
        assert_eq!((first.num_rows(), first.num_columns()), (10, 3));
        assert_eq!(batches.schema().fields().len(), 3);
        drop(batches);
    }

    #[test]
    fn a_missing_segment_is_not_found_and_garbage_is_a_parquet_error() {
        let store = SegmentStore::open(&Backend::Memory, None).unwrap();
        let error = store
            .read_metadata_blocking("t/0/missing.parquet", 100)
            .unwrap_err();
        assert!(error.is_not_found(), "{error}");
        store
            .put_blocking("t/0/junk.parquet", Bytes::from(vec![7u8; 100]))
            .unwrap();
        let error = store
            .read_metadata_blocking("t/0/junk.parquet", 100)
            .unwrap_err();
        assert!(matches!(error, StorageError::Parquet(_)), "{error}");
    }
}
