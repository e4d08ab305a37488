//! Spill files: Arrow IPC (LZ4-compressed) in unnamed temporary files.
//!
//! A spill file has no name from the moment it is created (`tempfile::tempfile_in`: the
//! directory entry is removed at once, or never made with `O_TMPFILE`), so it disappears when
//! keytrail exits however it exits: normally, on Ctrl-C, or killed. Files are written as a
//! sequence of record batches and read back one batch at a time with positional reads, so
//! several readers can walk the same file and memory holds one batch, not the file.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use polars::prelude::*;
use polars_arrow::io::ipc::read::{FileReader, read_file_metadata};
use polars_arrow::io::ipc::write::{Compression, FileWriter, WriteOptions};

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

    /// Writes frames (all of one schema) as one spill file of record batches.
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
    writer: Option<FileWriter<File>>,
    rows: usize,
    dir: String,
}

impl SpillWriter {
    /// Appends a frame as one or more record batches.
    pub fn write(&mut self, mut df: DataFrame) -> Result<(), SpillError> {
        if df.height() == 0 {
            return Ok(());
        }
        let io = |e: PolarsError| SpillError::Write {
            dir: self.dir.clone(),
            reason: e.to_string(),
        };
        if self.writer.is_none() {
            let schema = df.schema().to_arrow(CompatLevel::newest());
            let out = self.file.try_clone().map_err(|e| SpillError::Write {
                dir: self.dir.clone(),
                reason: e.to_string(),
            })?;
            let opts = WriteOptions {
                compression: Some(Compression::LZ4),
            };
            let w = FileWriter::try_new(out, Arc::new(schema), None, opts).map_err(io)?;
            self.writer = Some(w);
        }
        let w = self.writer.as_mut().expect("writer started above");
        df = super::builder::compact(df).map_err(io)?;
        df.align_chunks();
        self.rows += df.height();
        for batch in df.iter_chunks(CompatLevel::newest(), false) {
            w.write(&batch, None).map_err(io)?;
        }
        Ok(())
    }

    /// Rows written so far.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Ends the file; it can then be read back.
    pub fn finish(self) -> Result<SpillFile, SpillError> {
        if let Some(mut w) = self.writer {
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

    /// The open file (for polars scans).
    pub fn file(&self) -> &File {
        &self.file
    }

    /// A handle for polars: another descriptor of the same (unnamed) file.
    pub fn handle(&self) -> io::Result<File> {
        self.file.try_clone()
    }

    /// Reads the record batches back one at a time, in order.
    pub fn batches(&self) -> Result<SpillBatches, SpillError> {
        if self.rows == 0 {
            return Ok(SpillBatches { reader: None });
        }
        let mut r = PosReader {
            file: self.file.clone(),
            pos: 0,
        };
        let read_err = |e: PolarsError| SpillError::Read(e.to_string());
        let meta = read_file_metadata(&mut r).map_err(read_err)?;
        Ok(SpillBatches {
            reader: Some(FileReader::new(r, meta, None, None)),
        })
    }
}

/// The batches of a spill file.
pub struct SpillBatches {
    reader: Option<FileReader<PosReader>>,
}

impl Iterator for SpillBatches {
    type Item = Result<DataFrame, SpillError>;

    fn next(&mut self) -> Option<Self::Item> {
        let b = self.reader.as_mut()?.next()?;
        Some(
            b.map(DataFrame::from)
                .map_err(|e| SpillError::Read(e.to_string())),
        )
    }
}

/// Reads a shared file with positional reads, so readers do not move each other's offset.
struct PosReader {
    file: Arc<File>,
    pos: u64,
}

impl Read for PosReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = read_at(&self.file, buf, self.pos)?;
        self.pos += n as u64;
        Ok(n)
    }
}

impl Seek for PosReader {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        let len = self.file.metadata()?.len();
        let target = match to {
            SeekFrom::Start(p) => Some(p),
            SeekFrom::End(d) => len.checked_add_signed(d),
            SeekFrom::Current(d) => self.pos.checked_add_signed(d),
        };
        self.pos = target
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "seek before start"))?;
        Ok(self.pos)
    }
}

#[cfg(unix)]
fn read_at(f: &File, buf: &mut [u8], pos: u64) -> io::Result<usize> {
    std::os::unix::fs::FileExt::read_at(f, buf, pos)
}

#[cfg(windows)]
fn read_at(f: &File, buf: &mut [u8], pos: u64) -> io::Result<usize> {
    std::os::windows::fs::FileExt::seek_read(f, buf, pos)
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
    fn frames_written_come_back_batch_by_batch_and_leave_no_file() {
        let dir = tempfile::tempdir().unwrap();
        let spill = SpillDir::new(dir.path());
        let a = df!("x" => [1i64, 2, 3], "s" => ["a", "b", "a long text value here"]).unwrap();
        let b = df!("x" => [4i64], "s" => [None::<&str>]).unwrap();
        let f = spill.write([a.clone(), b.clone()]).unwrap();
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
        assert_eq!(f.rows(), 4);
        let got: Vec<DataFrame> = f.batches().unwrap().map(Result::unwrap).collect();
        assert_eq!(got.len(), 2);
        assert!(got[0].equals_missing(&a));
        assert!(got[1].equals_missing(&b));
        // Two readers at once do not disturb each other.
        let mut r1 = f.batches().unwrap();
        let mut r2 = f.batches().unwrap();
        assert!(r1.next().unwrap().unwrap().equals_missing(&a));
        assert!(r2.next().unwrap().unwrap().equals_missing(&a));
        assert!(r1.next().unwrap().unwrap().equals_missing(&b));
    }
}
