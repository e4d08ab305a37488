//! Spill files: Parquet (LZ4 blocks) in unnamed temporary files.
//!
//! A spill file has no name from the moment it is created (`tempfile::tempfile_in`: the
//! directory entry is removed at once, or never made with `O_TMPFILE`), so it disappears when
//! keytrail exits however it exits: normally, on Ctrl-C, or killed. Files are written one row
//! group per frame and read back a slice at a time (each read maps the file, decodes the row
//! groups the slice covers, and unmaps it), so several readers can walk the same file and
//! memory holds one slice, not the file.
//!
//! Why Parquet and not Arrow IPC: every rule scans the table's files, with projections and
//! filters, and the merge reads every run once. An IPC reader validates the UTF-8 of every
//! string of every row it reads and checks an LZ4 frame checksum per buffer: scanning 1M dense
//! events spilled as IPC spent more than half its time there. Parquet's dictionary pages hold
//! each repeated value (event names, regions, principals, user agents) once, and are
//! validated once. On 1M dense events, `scan`'s rules took 3.0 s instead of 7.0 s, and the
//! merge of the runs 1.5 s instead of 2.0 s.

use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use polars::io::parquet::metadata::FileMetadataRef;
use polars::io::parquet::write::BatchedWriter;
use polars::polars_utils::mmap::MemSlice;
use polars::prelude::*;

/// Rows read per slice (the row groups the store writes).
const SLICE_ROWS: usize = 16 * 1024;

/// Where spill files go: `$TMPDIR` unless a directory is given.
#[derive(Debug, Clone)]
pub struct SpillDir {
    dir: PathBuf,
}

impl Default for SpillDir {
    fn default() -> Self {
        SpillDir {
            dir: std::env::temp_dir(),
        }
    }
}

impl SpillDir {
    /// Spill files go to `dir`.
    pub fn new(dir: impl Into<PathBuf>) -> SpillDir {
        SpillDir { dir: dir.into() }
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.dir
    }

    /// Writes frames (all of one schema) as one spill file, a row group per frame chunk.
    pub fn write<I>(&self, frames: I) -> Result<SpillFile, SpillError>
    where
        I: IntoIterator<Item = DataFrame>,
    {
        let mut w = self.writer()?;
        for df in frames {
            w.write(df)?;
        }
        w.finish()
    }

    /// Starts a spill file to be written frame by frame.
    pub fn writer(&self) -> Result<SpillWriter, SpillError> {
        let file = tempfile::tempfile_in(&self.dir).map_err(|e| SpillError::Create {
            dir: self.dir.display().to_string(),
            source: e,
        })?;
        Ok(SpillWriter {
            file,
            writer: None,
            rows: 0,
            dir: self.dir.display().to_string(),
        })
    }
}

/// A spill file being written.
pub struct SpillWriter {
    file: File,
    writer: Option<BatchedWriter<File>>,
    rows: usize,
    dir: String,
}

impl SpillWriter {
    /// Appends a frame: one row group per chunk.
    pub fn write(&mut self, mut df: DataFrame) -> Result<(), SpillError> {
        if df.height() == 0 {
            return Ok(());
        }
        let io = |e: PolarsError| SpillError::Write {
            dir: self.dir.clone(),
            reason: e.to_string(),
        };
        if self.writer.is_none() {
            let out = self.file.try_clone().map_err(|e| SpillError::Write {
                dir: self.dir.clone(),
                reason: e.to_string(),
            })?;
            let w = ParquetWriter::new(out)
                .with_compression(ParquetCompression::Lz4Raw)
                .batched(df.schema())
                .map_err(io)?;
            self.writer = Some(w);
        }
        let w = self.writer.as_mut().expect("writer started above");
        df.align_chunks();
        self.rows += df.height();
        w.write_batch(&df).map_err(io)
    }

    /// Rows written so far.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Ends the file; it can then be read back.
    pub fn finish(self) -> Result<SpillFile, SpillError> {
        if let Some(w) = self.writer {
            w.finish().map_err(|e| SpillError::Write {
                dir: self.dir.clone(),
                reason: e.to_string(),
            })?;
        }
        Ok(SpillFile {
            file: Arc::new(self.file),
            rows: self.rows,
        })
    }
}

/// A finished spill file.
#[derive(Debug, Clone)]
pub struct SpillFile {
    file: Arc<File>,
    rows: usize,
}

impl SpillFile {
    /// Rows in the file.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// A handle for polars: another descriptor of the same (unnamed) file.
    pub fn handle(&self) -> io::Result<File> {
        self.file.try_clone()
    }

    /// Reads the rows back a slice at a time, in order.
    pub fn batches(&self) -> SpillBatches {
        SpillBatches {
            file: self.file.clone(),
            offset: 0,
            rows: self.rows,
            metadata: None,
        }
    }
}

/// The rows of a spill file, a slice at a time.
pub struct SpillBatches {
    file: Arc<File>,
    offset: usize,
    rows: usize,
    /// The file's footer, parsed at the first slice and given to the next ones (parsing it
    /// for each slice was 4.6% of the profile of finishing the table of 1M dense events:
    /// merging the runs and writing the final files).
    metadata: Option<FileMetadataRef>,
}

impl SpillBatches {
    /// Reads the next slice from a map of the whole file: the footer and the row groups are
    /// read from memory, never through the file's offset, which every descriptor of the file
    /// shares (a reader seeking it could move another's). The map is made per slice and
    /// dropped after it, so the file's pages do not stay resident while it is read.
    fn read(&mut self) -> Result<DataFrame, SpillError> {
        let read_err = |e: PolarsError| SpillError::Read(e.to_string());
        let map = MemSlice::from_file(&self.file).map_err(read_err)?;
        let mut reader = ParquetReader::new(std::io::Cursor::new(map));
        match &self.metadata {
            Some(m) => reader.set_metadata(m.clone()),
            None => self.metadata = Some(reader.get_metadata().map_err(read_err)?.clone()),
        }
        reader
            .with_slice(Some((self.offset, SLICE_ROWS)))
            .finish()
            .map_err(read_err)
    }
}

impl Iterator for SpillBatches {
    type Item = Result<DataFrame, SpillError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.offset >= self.rows {
            return None;
        }
        let slice = self.read().and_then(|df| match df.height() {
            0 => Err(SpillError::Read(format!(
                "a spill file ended at row {} of {}",
                self.offset, self.rows
            ))),
            n => Ok((df, n)),
        });
        match slice {
            Ok((df, n)) => {
                self.offset += n;
                Some(Ok(df))
            }
            Err(e) => {
                // Nothing after a failed read can be trusted to line up.
                self.offset = self.rows;
                Some(Err(e))
            }
        }
    }
}

/// Why spilling failed.
#[derive(Debug, thiserror::Error)]
pub enum SpillError {
    #[error(
        "cannot create a temporary file in {dir}: {source}; set TMPDIR to a writable directory with free space"
    )]
    Create { dir: String, source: io::Error },
    #[error(
        "cannot write a temporary file in {dir}: {reason}; check free space there (or raise --memory-limit)"
    )]
    Write { dir: String, reason: String },
    #[error("cannot read a temporary file back: {0}")]
    Read(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_written_come_back_in_order_and_leave_no_file() {
        let dir = tempfile::tempdir().unwrap();
        let spill = SpillDir::new(dir.path());
        let a = df!("x" => [1i64, 2, 3], "s" => ["a", "b", "a long text value here"]).unwrap();
        let b = df!("x" => [4i64], "s" => [None::<&str>]).unwrap();
        let f = spill.write([a.clone(), b.clone()]).unwrap();
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
        assert_eq!(f.rows(), 4);
        let got: Vec<DataFrame> = f.batches().map(Result::unwrap).collect();
        let mut want = a.clone();
        want.vstack_mut(&b).unwrap();
        assert_eq!(got.len(), 1);
        assert!(got[0].equals_missing(&want));
    }

    #[test]
    fn a_large_file_comes_back_a_slice_at_a_time_to_each_reader() {
        let dir = tempfile::tempdir().unwrap();
        let spill = SpillDir::new(dir.path());
        let n = 2 * SLICE_ROWS + 5;
        let x: Vec<i64> = (0..n as i64).collect();
        let s: Vec<String> = (0..n).map(|i| format!("user-{}", i % 7)).collect();
        let whole = df!("x" => x, "s" => s).unwrap();
        let f = spill
            .write(
                (0..n)
                    .step_by(SLICE_ROWS)
                    .map(|o| whole.slice(o as i64, SLICE_ROWS)),
            )
            .unwrap();
        // Two readers at once do not disturb each other.
        let (mut r1, mut r2) = (f.batches(), f.batches());
        let first = r1.next().unwrap().unwrap();
        assert_eq!(first.height(), SLICE_ROWS);
        assert!(r2.next().unwrap().unwrap().equals_missing(&first));
        let rest: Vec<DataFrame> = r1.map(Result::unwrap).collect();
        assert_eq!(
            rest.iter().map(DataFrame::height).collect::<Vec<_>>(),
            [SLICE_ROWS, 5]
        );
        let mut back = first;
        for r in &rest {
            back.vstack_mut(r).unwrap();
        }
        assert!(back.equals_missing(&whole));
    }
}
