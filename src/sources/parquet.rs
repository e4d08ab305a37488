//! Parquet inputs: the `events` table as `events --format parquet` writes it (a shard's
//! output, a data lake extract), read back a slice at a time so the rules can run over the
//! union of several files.

use std::fs::File;
use std::io::Read;
use std::path::Path;

use polars::prelude::*;

use crate::pipeline::IngestOptions;
use crate::table::EventTable;

/// Rows read per slice.
const SLICE_ROWS: usize = 64 * 1024;

/// True when the file starts with the Parquet magic bytes.
pub fn is_parquet(path: &Path) -> bool {
    let mut magic = [0u8; 4];
    File::open(path)
        .and_then(|mut f| f.read_exact(&mut magic))
        .is_ok_and(|()| &magic == b"PAR1")
}

/// Reads the file in slices of the table's columns (types checked and cast, `raw` added
/// when absent), keeping rows inside `--since/--until`, and hands each slice with the
/// number of rows it was cut from to `each`.
pub fn read_slices(
    path: &Path,
    opts: &IngestOptions,
    mut each: impl FnMut(DataFrame, usize) -> Result<(), String>,
) -> Result<(), String> {
    let open = || File::open(path).map_err(|e| format!("cannot open: {e}"));
    let rows = ParquetReader::new(open()?)
        .num_rows()
        .map_err(|e| format!("not a readable Parquet file: {e}"))?;
    let target = EventTable::empty_frame().map_err(|e| e.to_string())?;
    let mut offset = 0;
    while offset < rows {
        let df = ParquetReader::new(open()?)
            .with_slice(Some((offset, SLICE_ROWS)))
            .finish()
            .map_err(|e| format!("not a readable Parquet file: {e}"))?;
        let n = df.height();
        if n == 0 {
            break;
        }
        offset += n;
        let df = conform(df, &target)?;
        let df = in_window(df, opts).map_err(|e| e.to_string())?;
        each(df, n)?;
    }
    Ok(())
}

/// The frame with exactly the table's columns, in order and of the table's types.
fn conform(df: DataFrame, target: &DataFrame) -> Result<DataFrame, String> {
    let mut cols = Vec::with_capacity(target.width());
    for want in target.get_columns() {
        let name = want.name();
        match df.column(name) {
            Ok(c) => cols.push(c.cast(want.dtype()).map_err(|e| {
                format!(
                    "column {name} has type {} where {} is expected: {e}",
                    c.dtype(),
                    want.dtype()
                )
            })?),
            Err(_) if name.as_str() == crate::table::RAW_COLUMN => {
                cols.push(Column::full_null(name.clone(), df.height(), want.dtype()))
            }
            Err(_) => {
                return Err(format!(
                    "not a keytrail events file: no column {name} (write one with `keytrail events ... --format parquet`)"
                ));
            }
        }
    }
    DataFrame::new(cols).map_err(|e| e.to_string())
}

/// Keeps the rows inside `--since/--until` (rows without a time only when neither is set).
fn in_window(df: DataFrame, opts: &IngestOptions) -> PolarsResult<DataFrame> {
    if opts.since.is_none() && opts.until.is_none() {
        return Ok(df);
    }
    let t = df.column("event_time")?.datetime()?.physical().clone();
    let mask: BooleanChunked = t
        .iter()
        .map(|v| {
            Some(v.is_some_and(|t| {
                opts.since.is_none_or(|s| t >= s) && opts.until.is_none_or(|u| t < u)
            }))
        })
        .collect();
    df.filter(&mask)
}
