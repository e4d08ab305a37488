//! Column builders: normalized events go straight into the `events` columns, one chunk per
//! input, without a struct of owned strings per event.
//!
//! Text columns are Arrow string views (what polars uses for `String`): each cell is a
//! 16-byte view, strings of up to 12 bytes live inside it, longer ones point into data
//! blocks the column owns. A value that repeats within a chunk (an event name, a region, a
//! principal, a user agent, the input's name) is written to the blocks once and every row
//! points at that copy.

use std::hash::BuildHasher;
use std::sync::Arc;

use polars::prelude::*;
use polars_arrow::array::{Utf8ViewArray, View};
use polars_arrow::bitmap::MutableBitmap;
use polars_arrow::buffer::Buffer;
use polars_arrow::datatypes::ArrowDataType;

use super::RAW_COLUMN;
use crate::event::{COLUMNS, EventRef};

/// Size of a text column's first data block; each next one doubles, up to
/// [`MAX_BLOCK_BYTES`] (a chunk of a small input stays small).
const FIRST_BLOCK_BYTES: usize = 1024;
/// Largest data block.
const MAX_BLOCK_BYTES: usize = 256 * 1024;
/// Distinct values a column remembers per chunk; past this, new values are appended as is.
const INTERN_LIMIT: usize = 1 << 16;

/// A text column under construction.
#[derive(Default)]
struct TextColumn {
    views: Vec<View>,
    validity: MutableBitmap,
    nulls: usize,
    blocks: Vec<Vec<u8>>,
    total_bytes: usize,
    /// Views of values seen in this chunk, by hash (None: the column is not interned).
    seen: Option<PlHashMap<u64, View>>,
    /// The view of the last value stored out of line (interned columns): consecutive records
    /// often repeat a principal, a user agent or an address, and comparing with the last one
    /// costs less than hashing.
    last: Option<View>,
}

impl TextColumn {
    /// A column that stores each repeated value once.
    fn interned() -> TextColumn {
        TextColumn {
            seen: Some(PlHashMap::default()),
            ..TextColumn::default()
        }
    }

    /// Appends a value or null.
    fn push(&mut self, v: Option<&str>, hasher: &PlRandomState) {
        let Some(s) = v else {
            self.views.push(View::default());
            self.validity.push(false);
            self.nulls += 1;
            return;
        };
        self.validity.push(true);
        let bytes = s.as_bytes();
        self.total_bytes += bytes.len();
        if bytes.len() <= View::MAX_INLINE_SIZE as usize {
            self.views.push(View::new_inline(bytes));
            return;
        }
        if let Some(v) = self.last
            && v.length as usize == bytes.len()
            && view_bytes(&self.blocks, &v) == bytes
        {
            self.views.push(v);
            return;
        }
        let view = match self.seen.as_mut() {
            Some(seen) => {
                let h = hasher.hash_one(bytes);
                match seen.get(&h) {
                    Some(v) if view_bytes(&self.blocks, v) == bytes => *v,
                    Some(_) => append(&mut self.blocks, bytes),
                    None => {
                        let v = append(&mut self.blocks, bytes);
                        if seen.len() < INTERN_LIMIT {
                            seen.insert(h, v);
                        }
                        v
                    }
                }
            }
            None => append(&mut self.blocks, bytes),
        };
        if self.seen.is_some() {
            self.last = Some(view);
        }
        self.views.push(view);
    }

    /// Bytes held (views, data, validity), for the memory budget.
    fn held_bytes(&self) -> usize {
        self.views.capacity() * std::mem::size_of::<View>()
            + self.blocks.iter().map(Vec::capacity).sum::<usize>()
            + self.validity.capacity() / 8
    }

    /// The finished column.
    fn finish(mut self, name: &str) -> Column {
        if let Some(last) = self.blocks.last_mut() {
            last.shrink_to_fit();
        }
        let buffers: Vec<Buffer<u8>> = self.blocks.into_iter().map(Buffer::from).collect();
        let total_buffer_len = buffers.iter().map(|b| b.len()).sum();
        let validity = (self.nulls > 0).then(|| self.validity.into());
        // SAFETY: every view was made from a `&str` (valid UTF-8) and points inside the
        // block it names; the validity bitmap has one bit per view.
        let array = unsafe {
            Utf8ViewArray::new_unchecked(
                ArrowDataType::Utf8View,
                Buffer::from(self.views),
                Arc::from(buffers),
                validity,
                self.total_bytes,
                total_buffer_len,
            )
        };
        StringChunked::with_chunk(name.into(), array)
            .into_series()
            .into_column()
    }
}

/// Copies `bytes` into the last block (or a new one) and returns its view.
fn append(blocks: &mut Vec<Vec<u8>>, bytes: &[u8]) -> View {
    let fits = blocks
        .last()
        .is_some_and(|b| b.capacity() - b.len() >= bytes.len());
    if !fits {
        let next = blocks.last().map_or(FIRST_BLOCK_BYTES, |b| {
            (b.capacity() * 2).min(MAX_BLOCK_BYTES)
        });
        blocks.push(Vec::with_capacity(next.max(bytes.len())));
    }
    let idx = blocks.len() - 1;
    let block = &mut blocks[idx];
    let offset = block.len();
    block.extend_from_slice(bytes);
    View::new_from_bytes(bytes, idx as u32, offset as u32)
}

/// The bytes a (non-inline) view points at.
fn view_bytes<'b>(blocks: &'b [Vec<u8>], v: &View) -> &'b [u8] {
    let start = v.offset as usize;
    &blocks[v.buffer_idx as usize][start..start + v.length as usize]
}

/// The `events` columns of one input (or batch) under construction, plus the raw records
/// when they are kept.
pub struct ChunkBuilder {
    text: Vec<TextColumn>,
    event_time: Vec<Option<i64>>,
    read_only: Vec<Option<bool>>,
    bearer_token: Vec<bool>,
    credential_age_days: Vec<Option<i64>>,
    credential_expiration: Vec<Option<i64>>,
    policy_mentions_bearer: Vec<bool>,
    raw: TextColumn,
    hasher: PlRandomState,
}

/// Text columns in the order the builder keeps them (all of [`COLUMNS`] that are text).
const TEXT_COLUMNS: &[&str] = &[
    "event_id",
    "event_source",
    "event_name",
    "event_type",
    "aws_region",
    "account_id",
    "source_ip",
    "user_agent",
    "error_code",
    "error_message",
    "identity_type",
    "principal_id",
    "principal_arn",
    "access_key_id",
    "user_name",
    "session_issuer_arn",
    "bearer_token_type",
    "model_id",
    "target_user",
    "service_name",
    "credential_id",
    "service_user_name",
    "credential_status",
    "policy_arn",
    "policy_document",
    "target_role",
    "activity",
    "key_kind",
    "key_basis",
    "source",
];

impl Default for ChunkBuilder {
    fn default() -> Self {
        ChunkBuilder {
            text: TEXT_COLUMNS
                .iter()
                // Event ids are unique: remembering them would only cost memory.
                .map(|c| match *c {
                    "event_id" => TextColumn::default(),
                    _ => TextColumn::interned(),
                })
                .collect(),
            event_time: Vec::new(),
            read_only: Vec::new(),
            bearer_token: Vec::new(),
            credential_age_days: Vec::new(),
            credential_expiration: Vec::new(),
            policy_mentions_bearer: Vec::new(),
            raw: TextColumn::default(),
            hasher: PlRandomState::default(),
        }
    }
}

impl ChunkBuilder {
    /// An empty chunk.
    pub fn new() -> ChunkBuilder {
        ChunkBuilder::default()
    }

    /// Rows appended so far.
    pub fn len(&self) -> usize {
        self.event_time.len()
    }

    /// True when no row was appended.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Bytes the chunk holds so far (for the memory budget).
    pub fn held_bytes(&self) -> usize {
        self.text.iter().map(TextColumn::held_bytes).sum::<usize>()
            + self.raw.held_bytes()
            + self.len() * (3 * 16 + 2 * 2)
    }

    /// Appends one event as a row.
    pub fn push(&mut self, e: &EventRef<'_>) {
        let t: [Option<&str>; 30] = [
            e.event_id.as_deref(),
            e.event_source.as_deref(),
            e.event_name.as_deref(),
            e.event_type.as_deref(),
            e.aws_region.as_deref(),
            e.account_id.as_deref(),
            e.source_ip.as_deref(),
            e.user_agent.as_deref(),
            e.error_code.as_deref(),
            e.error_message.as_deref(),
            e.identity_type.as_deref(),
            e.principal_id.as_deref(),
            e.principal_arn.as_deref(),
            e.access_key_id.as_deref(),
            e.user_name.as_deref(),
            e.session_issuer_arn.as_deref(),
            e.bearer_token_type.as_deref(),
            e.model_id.as_deref(),
            e.target_user.as_deref(),
            e.service_name.as_deref(),
            e.credential_id.as_deref(),
            e.service_user_name.as_deref(),
            e.credential_status.as_deref(),
            e.policy_arn.as_deref(),
            e.policy_document.as_deref(),
            e.target_role.as_deref(),
            e.activity,
            e.key_kind,
            e.key_basis,
            Some(&e.source),
        ];
        for (c, v) in self.text.iter_mut().zip(t) {
            c.push(v, &self.hasher);
        }
        self.event_time.push(e.event_time);
        self.read_only.push(e.read_only);
        self.bearer_token.push(e.bearer_token);
        self.credential_age_days.push(e.credential_age_days);
        self.credential_expiration.push(e.credential_expiration);
        self.policy_mentions_bearer.push(e.policy_mentions_bearer);
        self.raw.push(e.raw.as_deref(), &self.hasher);
    }

    /// The finished chunk: the columns of [`COLUMNS`] in order, then [`RAW_COLUMN`].
    pub fn finish(self) -> PolarsResult<DataFrame> {
        let mut text: Vec<Option<Column>> = self
            .text
            .into_iter()
            .zip(TEXT_COLUMNS)
            .map(|(c, n)| Some(c.finish(n)))
            .collect();
        let mut take = |name: &str| -> Column {
            let i = TEXT_COLUMNS
                .iter()
                .position(|c| *c == name)
                .expect("text column listed");
            text[i].take().expect("each column taken once")
        };
        let time = |name: &str, v: Vec<Option<i64>>| -> Column {
            Int64Chunked::from_iter_options(name.into(), v.into_iter())
                .into_datetime(TimeUnit::Microseconds, None)
                .into_series()
                .into_column()
        };
        let mut cols = Vec::with_capacity(COLUMNS.len() + 1);
        let (mut et, mut ro, mut bt, mut age, mut exp, mut pm) = (
            Some(self.event_time),
            Some(self.read_only),
            Some(self.bearer_token),
            Some(self.credential_age_days),
            Some(self.credential_expiration),
            Some(self.policy_mentions_bearer),
        );
        for name in COLUMNS {
            cols.push(match *name {
                "event_time" => time(name, et.take().unwrap_or_default()),
                "credential_expiration" => time(name, exp.take().unwrap_or_default()),
                "read_only" => Column::new((*name).into(), ro.take().unwrap_or_default()),
                "bearer_token" => Column::new((*name).into(), bt.take().unwrap_or_default()),
                "policy_mentions_bearer" => {
                    Column::new((*name).into(), pm.take().unwrap_or_default())
                }
                "credential_age_days" => {
                    Column::new((*name).into(), age.take().unwrap_or_default())
                }
                other => take(other),
            });
        }
        cols.push(self.raw.finish(RAW_COLUMN));
        DataFrame::new(cols)
    }
}

#[cfg(test)]
mod tests {
    use std::borrow::Cow;

    use super::*;

    fn ev(id: &str, agent: &str) -> EventRef<'static> {
        EventRef {
            event_id: Some(Cow::Owned(id.to_string())),
            event_time: Some(1),
            user_agent: Some(Cow::Owned(agent.to_string())),
            source: Cow::Borrowed("file.json"),
            ..EventRef::default()
        }
    }

    #[test]
    fn text_columns_are_the_table_columns_that_are_not_times_flags_or_counts() {
        let not_text = [
            "event_time",
            "read_only",
            "bearer_token",
            "credential_age_days",
            "credential_expiration",
            "policy_mentions_bearer",
        ];
        let want: Vec<&str> = COLUMNS
            .iter()
            .copied()
            .filter(|c| !not_text.contains(c))
            .collect();
        assert_eq!(TEXT_COLUMNS, want.as_slice());
    }

    #[test]
    fn repeated_text_is_stored_once_per_chunk() {
        let agent = "aws-sdk-python/1.34.0 Python/3.12.1 Linux/6.1 Botocore/1.34.0";
        let mut b = ChunkBuilder::new();
        for i in 0..1000 {
            b.push(&ev(&format!("00000000-0000-0000-0000-{i:012}"), agent));
        }
        let df = b.finish().unwrap();
        assert_eq!(df.height(), 1000);
        let ua = df.column("user_agent").unwrap().str().unwrap();
        let arr = ua.downcast_iter().next().unwrap();
        assert_eq!(arr.total_buffer_len(), agent.len());
        assert!(ua.into_iter().all(|v| v == Some(agent)));
        let ids = df.column("event_id").unwrap().str().unwrap();
        assert_eq!(ids.get(999), Some("00000000-0000-0000-0000-000000000999"));
    }

    #[test]
    fn values_of_one_length_that_alternate_are_each_read_back_and_stored_once() {
        let agents = [
            "aws-sdk-java/2.20.1 Linux/6.1",
            "aws-sdk-java/2.20.2 Linux/6.1",
            "aws-sdk-java/2.20.3 Linux/6.1",
        ];
        let order = [0, 0, 1, 0, 2, 2, 1, 0];
        let mut b = ChunkBuilder::new();
        for (i, a) in order.iter().enumerate() {
            b.push(&ev(&format!("id-{i}"), agents[*a]));
        }
        let df = b.finish().unwrap();
        let ua = df.column("user_agent").unwrap().str().unwrap();
        let got: Vec<&str> = ua.into_iter().map(Option::unwrap).collect();
        let want: Vec<&str> = order.iter().map(|a| agents[*a]).collect();
        assert_eq!(got, want);
        let arr = ua.downcast_iter().next().unwrap();
        assert_eq!(arr.total_buffer_len(), 3 * agents[0].len());
    }

    #[test]
    fn finished_chunk_has_the_table_columns_then_raw() {
        let mut b = ChunkBuilder::new();
        b.push(&ev("a", "short"));
        let df = b.finish().unwrap();
        let names: Vec<String> = df
            .get_column_names()
            .iter()
            .map(|s| s.to_string())
            .collect();
        let mut want: Vec<String> = COLUMNS.iter().map(|s| s.to_string()).collect();
        want.push(RAW_COLUMN.to_string());
        assert_eq!(names, want);
        assert_eq!(
            df.column("event_time").unwrap().dtype(),
            &DataType::Datetime(TimeUnit::Microseconds, None)
        );
        assert_eq!(df.column("raw").unwrap().null_count(), 1);
    }
}
