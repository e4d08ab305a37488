//! Splits a stream of CloudTrail JSON into records without parsing them, and survives bad input.
//!
//! Supports `{"Records":[...]}` delivery files, LookupEvents pages (`{"Events":[...]}`), bare
//! JSON arrays and concatenated / newline-delimited objects. Only the structure is tracked
//! (strings, brackets, and bytes that cannot occur where they are), 64 bytes at a time
//! ([`blocks`]), so records that cannot be relevant are never parsed.
//!
//! # Recovery
//! Every piece of the input ends up in exactly one [`Piece`]: a record, an element that is not
//! an object, or a stretch that was passed over with the reason. After a syntax error the
//! splitter resynchronizes at the next record, so one bad record costs one record:
//! - in a `Records`/`Events` array or a bare array: the next element start, a `{` whose previous
//!   non-blank byte is `,` and whose next one is `"` (or a new `{"Records":[` wrapper);
//! - between top-level objects: the next `{` at a line start (NDJSON), after a `}`, or a wrapper;
//! - after a gap the decoder below reports ([`Gap`], e.g. a corrupt gzip member): the first
//!   record start after it.
//!
//! The search starts just after the bad record's first byte (a missing `}` is only noticed
//! records later), and a candidate counts only once the record starting there is complete and
//! followed by a proper separator. Going back costs time; the bytes scanned again are bounded
//! (4 times the input plus 64 MiB), after which the search goes forward from the error only.
//!
//! # Limits
//! - A record nested more than [`MAX_DEPTH`] levels (its own braces count as one) is skipped
//!   whole, before any parser sees it; real CloudTrail records are less than 32 deep.
//! - A record larger than [`MAX_RECORD_BYTES`] is skipped: memory holds at most that much plus
//!   one read chunk.
//! - In a newline-delimited file (first record on one line, followed by a newline), a record
//!   must end on its line: a raw newline cannot occur inside a JSON string.

mod blocks;

pub use blocks::Engine;

use std::io::Read;

use blocks::{Block, Carry};

/// Largest single record accepted; CloudTrail caps events at 256 KB.
pub const MAX_RECORD_BYTES: usize = 32 * 1024 * 1024;
/// Deepest nesting accepted inside a record (the record's own braces are level 1).
pub const MAX_DEPTH: u32 = 512;
/// Largest read; the first is `FIRST_READ` and each next one twice the last, so that a small
/// input never has a large buffer allocated and zeroed for it.
const READ_CHUNK: usize = 1024 * 1024;
/// Largest read buffer [`split_records_in`] hands back for the next input.
const KEEP_BUFFER_BYTES: usize = 4 * READ_CHUNK;
const FIRST_READ: usize = 64 * 1024;
/// Bytes the resynchronizing search may scan again before it only goes forward.
const RESCAN_BASE: u64 = 64 * 1024 * 1024;
/// Bytes looked at around a resynchronization candidate.
const CONTEXT: usize = 64;

/// How a record was framed in its input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// An element of a `Records` or `Events` array inside a wrapper object.
    Wrapped,
    /// An element of a bare top-level array.
    ArrayElement,
    /// A top-level object (NDJSON line, single event, digest or unknown file).
    TopLevel,
}

/// Why a stretch of input was passed over.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SkipReason {
    /// Invalid JSON at byte `at` (`what` says how).
    Syntax { at: u64, what: String },
    /// Nested deeper than [`MAX_DEPTH`].
    TooDeep,
    /// Larger than [`MAX_RECORD_BYTES`].
    TooLarge,
    /// The input ends inside a record or an array.
    Truncated,
    /// The decoder below could not decode part of the input (see [`Gap`]).
    Decoder(String),
}

impl std::fmt::Display for SkipReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SkipReason::Syntax { at, what } => write!(f, "invalid JSON at byte {at}: {what}"),
            SkipReason::TooDeep => write!(f, "nested deeper than {MAX_DEPTH} levels"),
            SkipReason::TooLarge => {
                write!(f, "record larger than {} MiB", MAX_RECORD_BYTES >> 20)
            }
            SkipReason::Truncated => write!(f, "input ends inside a record (truncated file?)"),
            SkipReason::Decoder(r) => write!(f, "{r}"),
        }
    }
}

/// One piece of the input, in input order.
#[derive(Debug, PartialEq, Eq)]
pub enum Piece<'a> {
    /// A JSON object, delimited but not parsed.
    Record {
        bytes: &'a [u8],
        framing: Framing,
        /// Offset of its first byte in the decoded stream.
        offset: u64,
    },
    /// A well-formed element that is not an object (a number, a string, `null`, an array).
    NotObject {
        offset: u64,
        len: u64,
        framing: Framing,
        /// What it is: "a number", "a string", "null", "a boolean" or "an array".
        kind: &'static str,
    },
    /// A stretch that could not be read as records.
    Skipped {
        offset: u64,
        /// Decoded bytes passed over.
        len: u64,
        /// Encoded bytes the decoder below passed over (a corrupt gzip member), if any.
        lost: u64,
        reason: SkipReason,
    },
}

/// The end of a split: how much was read, and whether the input was cut short.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SplitEnd {
    /// Decoded bytes read.
    pub bytes_read: u64,
    /// Why reading stopped before the end of the input, or why nothing could be read.
    pub cut_short: Option<ScanError>,
}

/// Why an input could not be read (to its end, or at all).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScanError {
    /// Reading failed; the records before the failure were delivered.
    Read(String),
    /// Only whitespace.
    Empty,
    /// Not JSON at all: no record could be found.
    NotJson(u64, char),
}

impl std::fmt::Display for ScanError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ScanError::Read(e) => write!(f, "read failed: {e}"),
            ScanError::Empty => write!(f, "empty input: no JSON found"),
            ScanError::NotJson(o, c) => write!(f, "not JSON: unexpected {c:?} at byte {o}"),
        }
    }
}

/// A stretch of input a decoder could not decode and passed over; it reports one as an
/// `io::Error` (kind `InvalidData`) carrying this, then goes on with the rest of the input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Gap {
    /// Encoded bytes passed over.
    pub lost: u64,
    /// Why, for the user.
    pub reason: String,
}

impl std::fmt::Display for Gap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.reason)
    }
}

impl std::error::Error for Gap {}

impl Gap {
    /// The gap as an `io::Error`, for a `Read` implementation to return.
    pub fn into_io(self) -> std::io::Error {
        std::io::Error::new(std::io::ErrorKind::InvalidData, self)
    }

    /// The gap inside an `io::Error`, if it carries one.
    pub fn from_io(e: &std::io::Error) -> Option<&Gap> {
        e.get_ref().and_then(|inner| inner.downcast_ref::<Gap>())
    }
}

/// Streams the pieces of `reader` to `sink`, with the fastest classification engine.
pub fn split_records<R: Read>(reader: R, sink: &mut dyn FnMut(Piece<'_>)) -> SplitEnd {
    split_records_in(reader, &mut Vec::new(), sink)
}

/// [`split_records`] reading through `buf`, a buffer kept from input to input: it is
/// allocated and zeroed once per reader thread, not once per file.
pub fn split_records_in<R: Read>(
    reader: R,
    buf: &mut Vec<u8>,
    sink: &mut dyn FnMut(Piece<'_>),
) -> SplitEnd {
    split_records_with_buf(reader, Engine::detect(), buf, sink)
}

/// [`split_records`] with a chosen engine (both give the same pieces; tests compare them).
pub fn split_records_with<R: Read>(
    reader: R,
    engine: Engine,
    sink: &mut dyn FnMut(Piece<'_>),
) -> SplitEnd {
    split_records_with_buf(reader, engine, &mut Vec::new(), sink)
}

/// The splitter's loop, over the caller's buffer (its old contents are never read).
fn split_records_with_buf<R: Read>(
    mut reader: R,
    engine: Engine,
    buf: &mut Vec<u8>,
    sink: &mut dyn FnMut(Piece<'_>),
) -> SplitEnd {
    let mut s = Splitter::new(engine);
    s.buf = std::mem::take(buf);
    let end = loop {
        s.run(sink);
        if s.done {
            break s.end();
        }
        s.fill(&mut reader);
    };
    // A buffer grown for a huge record is not kept for the next input.
    if s.buf.capacity() <= KEEP_BUFFER_BYTES {
        *buf = std::mem::take(&mut s.buf);
    }
    end
}

/// True when `text` nests deeper than `limit` (outside strings); for JSON that did not come
/// through the splitter, such as the `CloudTrailEvent` string of a LookupEvents event.
pub fn nests_deeper_than(text: &[u8], limit: u32) -> bool {
    let engine = Engine::detect();
    let mut carry = Carry::default();
    let mut depth: i64 = 0;
    for chunk in text.chunks(64) {
        let b = classify(engine, chunk, &mut carry);
        let mut ev = b.open | b.close;
        while ev != 0 {
            let bit = ev & ev.wrapping_neg();
            ev &= ev - 1;
            depth += if b.open & bit != 0 { 1 } else { -1 };
            if depth > limit as i64 {
                return true;
            }
        }
    }
    false
}

/// Classifies up to 64 bytes (padded with spaces).
fn classify(engine: Engine, bytes: &[u8], carry: &mut Carry) -> Block {
    let mut a = [b' '; 64];
    a[..bytes.len()].copy_from_slice(bytes);
    let raw = match engine {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: Engine::Avx2 is only chosen when the CPU has AVX2.
        Engine::Avx2 => unsafe { raw_avx2_outlined(&a) },
        _ => blocks::raw_portable(&a),
    };
    blocks::resolve(&raw, carry)
}

/// [`blocks::raw_avx2`] compiled with AVX2 enabled.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn raw_avx2_outlined(a: &[u8; 64]) -> blocks::Raw {
    // SAFETY: this function is compiled with AVX2 and only called when the CPU has it.
    unsafe { blocks::raw_avx2(a) }
}

/// Bracket tracking through one value (object or array), 64 bytes at a time.
#[derive(Debug, Clone)]
struct Tracker {
    depth: u32,
    /// Bit `d` is 1 when the bracket open at depth `d + 1` is `{` (up to [`MAX_DEPTH`]).
    types: [u64; (MAX_DEPTH as usize).div_ceil(64)],
    carry: Carry,
    too_deep: bool,
    /// A newline outside strings is an error (newline-delimited input).
    lines: bool,
}

/// Where a tracker run stopped (indices into the buffer).
enum Track {
    /// The value closed just before this index.
    Closed(usize),
    /// The value is invalid at this index.
    Failed(usize, SkipReason),
    /// All complete blocks were scanned; continue at this index when more data came.
    More(usize),
}

impl Tracker {
    /// A tracker at the opening bracket of a value.
    fn new(lines: bool) -> Tracker {
        Tracker {
            depth: 0,
            types: [0; (MAX_DEPTH as usize).div_ceil(64)],
            carry: Carry::default(),
            too_deep: false,
            lines,
        }
    }

    /// A tracker inside an object that is already open (the tail of a wrapper).
    fn inside_object() -> Tracker {
        let mut t = Tracker::new(false);
        t.depth = 1;
        t.types[0] = 1;
        t
    }

    /// Scans `buf[from..]` (stream offset of `buf[0]` is `base`) until the value closes, fails,
    /// or the data ends; `last` says no more data follows `buf`; `limit` is the index the
    /// value may not reach.
    fn run(
        &mut self,
        engine: Engine,
        buf: &[u8],
        from: usize,
        last: bool,
        limit: usize,
        base: u64,
    ) -> Track {
        match engine {
            #[cfg(target_arch = "x86_64")]
            // SAFETY: Engine::Avx2 is only chosen when the CPU has AVX2.
            Engine::Avx2 => unsafe { self.run_avx2(buf, from, last, limit, base) },
            _ => self.run_with::<Portable>(buf, from, last, limit, base),
        }
    }

    /// [`Tracker::run_with`] compiled with AVX2, so the classification inlines.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    unsafe fn run_avx2(
        &mut self,
        buf: &[u8],
        from: usize,
        last: bool,
        limit: usize,
        base: u64,
    ) -> Track {
        self.run_with::<Avx2>(buf, from, last, limit, base)
    }

    /// The scan loop, generic over the byte classifier.
    #[inline(always)]
    fn run_with<C: Classifier>(
        &mut self,
        buf: &[u8],
        from: usize,
        last: bool,
        limit: usize,
        base: u64,
    ) -> Track {
        let mut p = from;
        loop {
            if p >= limit {
                return Track::Failed(limit, SkipReason::TooLarge);
            }
            let full = p + 64 <= buf.len();
            if !full && !last {
                return Track::More(p);
            }
            if !full && p >= buf.len() {
                return Track::Failed(buf.len(), SkipReason::Truncated);
            }
            let r = if full {
                let a: &[u8; 64] = buf[p..p + 64].try_into().expect("64 bytes");
                C::raw(a)
            } else {
                let mut a = [b' '; 64];
                a[..buf.len() - p].copy_from_slice(&buf[p..]);
                C::raw(&a)
            };
            let b = blocks::resolve(&r, &mut self.carry);
            let bad = b.bad | if self.lines { b.newline } else { 0 };
            let stop = bad.trailing_zeros();
            let mut ev = (b.open | b.close) & low_bits(stop);
            while ev != 0 {
                let i = ev.trailing_zeros();
                let bit = 1u64 << i;
                ev &= ev - 1;
                if b.open & bit != 0 {
                    self.depth += 1;
                    if self.depth <= MAX_DEPTH {
                        let d = (self.depth - 1) as usize;
                        let word = &mut self.types[d / 64];
                        let is_brace = (b.brace & bit != 0) as u64;
                        *word = (*word & !(1 << (d % 64))) | (is_brace << (d % 64));
                    } else {
                        self.too_deep = true;
                    }
                    continue;
                }
                let at = p + i as usize;
                if self.depth == 0 {
                    let what = format!("unexpected {:?} with nothing open", buf[at] as char);
                    return Track::Failed(at, syntax(base, at, what));
                }
                if self.depth <= MAX_DEPTH {
                    let d = (self.depth - 1) as usize;
                    let open_brace = self.types[d / 64] >> (d % 64) & 1 == 1;
                    if open_brace != (buf[at] == b'}') {
                        let what = format!(
                            "{:?} closes {:?}",
                            buf[at] as char,
                            if open_brace { '{' } else { '[' }
                        );
                        return Track::Failed(at, syntax(base, at, what));
                    }
                }
                self.depth -= 1;
                if self.depth == 0 {
                    return Track::Closed(at + 1);
                }
            }
            if stop < 64 {
                let at = p + stop as usize;
                return Track::Failed(at, bad_byte(buf, at, base, self.lines));
            }
            if !full {
                return Track::Failed(buf.len(), SkipReason::Truncated);
            }
            p += 64;
        }
    }
}

/// Computes the raw byte classes of a block.
trait Classifier {
    fn raw(a: &[u8; 64]) -> blocks::Raw;
}

/// The AVX2 classifier: use only inside functions compiled with AVX2 enabled.
#[cfg(target_arch = "x86_64")]
struct Avx2;

#[cfg(target_arch = "x86_64")]
impl Classifier for Avx2 {
    #[inline(always)]
    fn raw(a: &[u8; 64]) -> blocks::Raw {
        // SAFETY: only instantiated in `Tracker::run_avx2`, which runs when the CPU has AVX2.
        unsafe { blocks::raw_avx2(a) }
    }
}

/// The table-driven classifier.
struct Portable;

impl Classifier for Portable {
    #[inline(always)]
    fn raw(a: &[u8; 64]) -> blocks::Raw {
        blocks::raw_portable(a)
    }
}

/// Bits below `n` (all 64 when `n` is 64).
#[inline(always)]
fn low_bits(n: u32) -> u64 {
    if n >= 64 { u64::MAX } else { (1u64 << n) - 1 }
}

/// A syntax error at buffer index `at`.
fn syntax(base: u64, at: usize, what: String) -> SkipReason {
    SkipReason::Syntax {
        at: base + at as u64,
        what,
    }
}

/// Describes the byte at `at` that the classifier marked as out of place.
fn bad_byte(buf: &[u8], at: usize, base: u64, lines: bool) -> SkipReason {
    let c = buf[at];
    let what = if c == b'\n' && lines {
        "record does not end on its line (newline-delimited input)".to_string()
    } else if c < 0x20 {
        format!("control character 0x{c:02x} in a string (unterminated string?)")
    } else if c.is_ascii() {
        format!("unexpected {:?} outside a string", c as char)
    } else {
        format!("unexpected byte 0x{c:02x} outside a string")
    };
    syntax(base, at, what)
}

/// What a value being tracked is.
#[derive(Debug, Clone, Copy)]
enum Role {
    /// An object: a record.
    Object(Framing),
    /// An array element: not an object.
    Array(Framing),
    /// The rest of a wrapper object after its records array.
    WrapperTail,
}

/// What the splitter expects next inside an array.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    /// Just after `[`: an element or `]`.
    ElementOrEnd,
    /// After an element: `,` or `]`.
    SeparatorOrEnd,
    /// After `,`: an element.
    Element,
}

/// Where in the input's structure the splitter is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Level {
    Top,
    Array { wrapped: bool, expect: Expect },
}

/// What the input turned out to be (decides where resynchronization looks).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Unknown,
    Wrapper,
    Array,
    Objects,
}

/// A complete value waiting for the separator after it before it is delivered.
#[derive(Debug, Clone, Copy)]
struct Pending {
    start: u64,
    end: u64,
    what: PendingKind,
}

#[derive(Debug, Clone, Copy)]
enum PendingKind {
    Record(Framing),
    TooDeep,
    NotObject(Framing, &'static str),
    /// The end of a wrapper object: nothing to deliver, but what follows must fit.
    WrapperEnd,
}

/// A stretch being passed over.
#[derive(Debug, Clone)]
struct Skip {
    start: u64,
    reason: SkipReason,
    lost: u64,
    /// Where the candidate on probation starts.
    resume: u64,
}

#[derive(Debug, Clone)]
enum State {
    Between {
        pos: u64,
    },
    Value {
        start: u64,
        at: u64,
        tracker: Box<Tracker>,
        role: Role,
    },
    Scalar {
        start: u64,
        framing: Framing,
    },
    Resync {
        skip: Skip,
        search: u64,
        gap_at: Option<u64>,
    },
}

/// What ends the data in the buffer.
#[derive(Debug)]
enum Boundary {
    Eof,
    Gap(Gap),
}

/// What a state step did.
enum Step {
    Continue,
    /// The data in the buffer is used up (up to the boundary, when there is one).
    Exhausted,
}

/// A candidate resynchronization point.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Candidate {
    /// An element of an array (level array).
    Element,
    /// A top-level value.
    Top,
}

/// The streaming splitter's state.
struct Splitter {
    engine: Engine,
    buf: Vec<u8>,
    /// Size of the next read.
    chunk: usize,
    /// Stream offset of `buf[0]`.
    base: u64,
    /// Bytes of `buf` holding data.
    end: usize,
    boundary: Option<Boundary>,
    state: State,
    level: Level,
    kind: Kind,
    pending: Option<Pending>,
    probation: Option<Skip>,
    /// Newline-delimited input (decided after the first top-level record).
    lines: Option<bool>,
    /// Bytes the resynchronizing search may still scan again.
    budget: u64,
    /// A record or element was delivered, or a wrapper entered.
    accepted: bool,
    /// A non-blank byte was seen.
    seen: bool,
    /// The first syntax error while nothing was accepted: (start of the stretch passed over,
    /// offset of the error, byte there); reported as "not JSON" if nothing is ever accepted.
    first_fail: Option<(u64, u64, u8)>,
    read_error: Option<String>,
    done: bool,
}

impl Splitter {
    fn new(engine: Engine) -> Splitter {
        Splitter {
            engine,
            buf: Vec::new(),
            chunk: FIRST_READ,
            base: 0,
            end: 0,
            boundary: None,
            state: State::Between { pos: 0 },
            level: Level::Top,
            kind: Kind::Unknown,
            pending: None,
            probation: None,
            lines: None,
            budget: RESCAN_BASE,
            accepted: false,
            seen: false,
            first_fail: None,
            read_error: None,
            done: false,
        }
    }

    /// Buffer index of stream offset `off`.
    fn idx(&self, off: u64) -> usize {
        (off - self.base) as usize
    }

    /// Stream offset of the end of the data.
    fn data_end(&self) -> u64 {
        self.base + self.end as u64
    }

    /// The earliest stream offset still needed.
    fn keep_from(&self) -> u64 {
        let mut k = match &self.state {
            State::Between { pos } => *pos,
            State::Value { start, .. } | State::Scalar { start, .. } => *start,
            State::Resync { search, .. } => search.saturating_sub(CONTEXT as u64),
        };
        if let Some(p) = &self.pending {
            k = k.min(p.start);
        }
        if let Some(s) = &self.probation {
            k = k.min(s.resume);
        }
        k.max(self.base)
    }

    /// Reads up to one chunk more, making room first; records a boundary at the end of input
    /// or at a decoder gap. The buffer grows (and is zeroed) only as far as data needs it.
    fn fill<R: Read>(&mut self, reader: &mut R) {
        let want = self.chunk;
        self.chunk = (self.chunk * 2).min(READ_CHUNK);
        if self.buf.len() - self.end < want {
            let keep = self.idx(self.keep_from());
            self.buf.copy_within(keep..self.end, 0);
            self.end -= keep;
            self.base += keep as u64;
            if self.buf.len() - self.end < want {
                self.buf.resize(self.end + want, 0);
            }
        }
        self.budget = self.budget.saturating_add(4 * want as u64);
        let stop = self.end + want;
        while self.end < stop {
            match reader.read(&mut self.buf[self.end..stop]) {
                Ok(0) => {
                    self.boundary = Some(Boundary::Eof);
                    return;
                }
                Ok(n) => self.end += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => {
                    self.boundary = Some(match Gap::from_io(&e) {
                        Some(g) => Boundary::Gap(g.clone()),
                        None => {
                            self.read_error = Some(e.to_string());
                            Boundary::Eof
                        }
                    });
                    return;
                }
            }
        }
    }

    /// Runs the state machine over the buffered data.
    fn run(&mut self, sink: &mut dyn FnMut(Piece<'_>)) {
        loop {
            let step = match self.state {
                State::Between { .. } => self.between(sink),
                State::Value { .. } => self.value(),
                State::Scalar { .. } => self.scalar(),
                State::Resync { .. } => self.resync(),
            };
            if let Step::Continue = step {
                continue;
            }
            match self.boundary.take() {
                None => return,
                Some(Boundary::Eof) => {
                    self.finish(sink);
                    self.done = true;
                    return;
                }
                Some(Boundary::Gap(g)) => self.gap(g, sink),
            }
        }
    }

    /// The result once the input is used up.
    fn end(&mut self) -> SplitEnd {
        let bytes_read = self.data_end();
        let cut_short = if let Some(e) = self.read_error.take() {
            Some(ScanError::Read(e))
        } else if !self.seen {
            Some(ScanError::Empty)
        } else if let (false, Some((_, o, c))) = (self.accepted, self.first_fail) {
            Some(ScanError::NotJson(o, c as char))
        } else {
            None
        };
        SplitEnd {
            bytes_read,
            cut_short,
        }
    }

    /// At the end of the input: delivers what is pending, reports what was not read.
    fn finish(&mut self, sink: &mut dyn FnMut(Piece<'_>)) {
        let end = self.data_end();
        match std::mem::replace(&mut self.state, State::Between { pos: end }) {
            State::Resync { skip, .. } => {
                let not_json = !self.accepted && self.first_fail.map(|f| f.0) == Some(skip.start);
                if !not_json || self.read_error.is_some() {
                    self.emit_skip(&skip, end, sink);
                }
            }
            State::Between { .. } => {
                if let Some(p) = self.pending.take() {
                    self.accept(p, sink);
                }
                if let Some(s) = self.probation.take() {
                    self.emit_skip(&s, end, sink);
                    return;
                }
                if let Level::Array { .. } = self.level {
                    // The array never closed: the records in it were read, its end is missing.
                    let skip = Skip {
                        start: end,
                        reason: SkipReason::Truncated,
                        lost: 0,
                        resume: end,
                    };
                    self.emit_skip(&skip, end, sink);
                }
            }
            State::Value { .. } | State::Scalar { .. } => {
                unreachable!("values fail at the end of the input before finish")
            }
        }
    }

    /// A decoder gap at the end of the buffered data: what was in progress there is lost.
    fn gap(&mut self, g: Gap, sink: &mut dyn FnMut(Piece<'_>)) {
        let at = self.data_end();
        let reason = SkipReason::Decoder(g.reason);
        match std::mem::replace(&mut self.state, State::Between { pos: at }) {
            State::Resync {
                mut skip, search, ..
            } => {
                skip.lost += g.lost;
                self.state = State::Resync {
                    skip,
                    search: search.max(at),
                    gap_at: Some(at),
                };
            }
            State::Between { .. } => {
                if let Some(p) = self.pending.take() {
                    self.accept(p, sink);
                }
                let skip = match self.probation.take() {
                    Some(mut s) => {
                        s.lost += g.lost;
                        s
                    }
                    None => Skip {
                        start: at,
                        reason,
                        lost: g.lost,
                        resume: at,
                    },
                };
                self.state = State::Resync {
                    skip,
                    search: at,
                    gap_at: Some(at),
                };
            }
            State::Value { .. } | State::Scalar { .. } => {
                unreachable!("values fail at a gap before it is handled")
            }
        }
    }

    /// Why a value that reached the boundary fails.
    fn boundary_reason(&self) -> SkipReason {
        match &self.boundary {
            Some(Boundary::Gap(g)) => SkipReason::Decoder(g.reason.clone()),
            _ => SkipReason::Truncated,
        }
    }

    /// The value or separator starting at `start` is invalid at `at`: pass over it and look
    /// for the next record.
    fn fail(&mut self, start: u64, at: u64, reason: SkipReason) {
        if !self.accepted
            && self.first_fail.is_none()
            && self.probation.is_none()
            && matches!(reason, SkipReason::Syntax { .. })
        {
            let i = self.idx(at);
            let c = if i < self.end { self.buf[i] } else { b' ' };
            self.first_fail = Some((start, at, c));
        }
        self.pending = None;
        let (skip, from) = match self.probation.take() {
            Some(s) => {
                let from = s.resume + 1;
                (s, from)
            }
            None => {
                let s = Skip {
                    start,
                    reason,
                    lost: 0,
                    resume: start,
                };
                (s, start + 1)
            }
        };
        let at_gap = matches!(self.boundary, Some(Boundary::Gap(_))) && at >= self.data_end();
        let search = if at_gap {
            at
        } else {
            let cost = at.saturating_sub(from);
            if cost <= self.budget {
                self.budget -= cost;
                from
            } else {
                at.max(from)
            }
        };
        self.state = State::Resync {
            skip,
            search: search.max(self.base),
            gap_at: None,
        };
    }

    /// Delivers a pending value whose separator checked out.
    fn accept(&mut self, p: Pending, sink: &mut dyn FnMut(Piece<'_>)) {
        if let Some(s) = self.probation.take() {
            self.emit_skip(&s, s.resume, sink);
        }
        self.accepted = true;
        let (i, j) = (self.idx(p.start), self.idx(p.end));
        match p.what {
            PendingKind::Record(framing) => sink(Piece::Record {
                bytes: &self.buf[i..j],
                framing,
                offset: p.start,
            }),
            PendingKind::NotObject(framing, kind) => sink(Piece::NotObject {
                offset: p.start,
                len: p.end - p.start,
                framing,
                kind,
            }),
            PendingKind::TooDeep => sink(Piece::Skipped {
                offset: p.start,
                len: p.end - p.start,
                lost: 0,
                reason: SkipReason::TooDeep,
            }),
            PendingKind::WrapperEnd => {}
        }
    }

    /// Reports the stretch from the skip's start to `to`.
    fn emit_skip(&self, s: &Skip, to: u64, sink: &mut dyn FnMut(Piece<'_>)) {
        sink(Piece::Skipped {
            offset: s.start,
            len: to.saturating_sub(s.start),
            lost: s.lost,
            reason: s.reason.clone(),
        });
    }

    /// Between values: separators, array ends, the start of the next value.
    fn between(&mut self, sink: &mut dyn FnMut(Piece<'_>)) -> Step {
        let State::Between { pos } = self.state else {
            unreachable!()
        };
        let from = self.idx(pos);
        let i = skip_blank(&self.buf[..self.end], from);
        if i >= self.end {
            self.state = State::Between {
                pos: self.base + i as u64,
            };
            return Step::Exhausted;
        }
        let at = self.base + i as u64;
        let c = self.buf[i];
        self.seen = true;
        match self.level {
            Level::Top => {
                if let Some(p) = self.pending {
                    let newline = memchr::memchr(b'\n', &self.buf[self.idx(p.end)..i]).is_some();
                    if !newline && c != b'{' && c != b'[' {
                        let what = format!("unexpected {:?} after a value", c as char);
                        self.fail(p.start, at, syntax(self.base, i, what));
                        return Step::Continue;
                    }
                    if self.lines.is_none() && matches!(p.what, PendingKind::Record(_)) {
                        let rec = &self.buf[self.idx(p.start)..self.idx(p.end)];
                        self.lines = Some(memchr::memchr(b'\n', rec).is_none() && newline);
                    }
                    self.pending = None;
                    self.accept(p, sink);
                }
                match c {
                    b'{' => match wrapper_prefix(&self.buf[..self.end], i) {
                        Prefix::Wrapper(after) => {
                            if let Some(s) = self.probation.take() {
                                self.emit_skip(&s, s.resume, sink);
                            }
                            self.accepted = true;
                            if self.kind == Kind::Unknown {
                                self.kind = Kind::Wrapper;
                            }
                            self.level = Level::Array {
                                wrapped: true,
                                expect: Expect::ElementOrEnd,
                            };
                            self.state = State::Between {
                                pos: self.base + after as u64,
                            };
                        }
                        Prefix::NeedMore if self.boundary.is_none() => {
                            self.state = State::Between { pos: at };
                            return Step::Exhausted;
                        }
                        _ => {
                            if self.kind == Kind::Unknown {
                                self.kind = Kind::Objects;
                            }
                            self.start_value(at, Role::Object(Framing::TopLevel));
                        }
                    },
                    b'[' => {
                        if self.kind == Kind::Unknown {
                            self.kind = Kind::Array;
                        }
                        self.level = Level::Array {
                            wrapped: false,
                            expect: Expect::ElementOrEnd,
                        };
                        self.state = State::Between { pos: at + 1 };
                    }
                    c if scalar_start(c) && (self.accepted || self.probation.is_some()) => {
                        self.state = State::Scalar {
                            start: at,
                            framing: Framing::TopLevel,
                        };
                    }
                    _ => {
                        let what = format!("unexpected {:?}", c as char);
                        self.fail(at, at, syntax(self.base, i, what));
                    }
                }
            }
            Level::Array { wrapped, expect } => {
                let framing = if wrapped {
                    Framing::Wrapped
                } else {
                    Framing::ArrayElement
                };
                let element = expect != Expect::SeparatorOrEnd;
                match c {
                    b',' if expect == Expect::SeparatorOrEnd => {
                        if let Some(p) = self.pending.take() {
                            self.accept(p, sink);
                        }
                        self.level = Level::Array {
                            wrapped,
                            expect: Expect::Element,
                        };
                        self.state = State::Between { pos: at + 1 };
                    }
                    b']' if expect != Expect::Element => {
                        if self.probation.is_some() {
                            // A record on probation may be a nested object of the bad one:
                            // only a real end of the array confirms it.
                            let last = self.boundary.is_some();
                            match array_end_ok(&self.buf[..self.end], i, wrapped, last) {
                                None => {
                                    self.state = State::Between { pos: at };
                                    return Step::Exhausted;
                                }
                                Some(false) => {
                                    let start = self.pending.map_or(at, |p| p.start);
                                    let what = "']' that does not end the array".to_string();
                                    self.fail(start, at, syntax(self.base, i, what));
                                    return Step::Continue;
                                }
                                Some(true) => {}
                            }
                        }
                        if let Some(p) = self.pending.take() {
                            self.accept(p, sink);
                        }
                        if wrapped {
                            let tracker = Box::new(Tracker::inside_object());
                            self.state = State::Value {
                                start: at + 1,
                                at: at + 1,
                                tracker,
                                role: Role::WrapperTail,
                            };
                        } else {
                            self.level = Level::Top;
                            self.pending = Some(Pending {
                                start: at,
                                end: at + 1,
                                what: PendingKind::WrapperEnd,
                            });
                            self.state = State::Between { pos: at + 1 };
                        }
                    }
                    b'{' if element => self.start_value(at, Role::Object(framing)),
                    b'[' if element => self.start_value(at, Role::Array(framing)),
                    c if element && scalar_start(c) => {
                        self.state = State::Scalar { start: at, framing };
                    }
                    _ => {
                        let start = self.pending.map_or(at, |p| p.start);
                        let what = match expect {
                            Expect::SeparatorOrEnd => {
                                format!(
                                    "expected ',' or ']' after an element, found {:?}",
                                    c as char
                                )
                            }
                            _ => format!("expected an element, found {:?}", c as char),
                        };
                        self.fail(start, at, syntax(self.base, i, what));
                    }
                }
            }
        }
        Step::Continue
    }

    /// Starts tracking the value at `at`.
    fn start_value(&mut self, at: u64, role: Role) {
        let lines = matches!(role, Role::Object(Framing::TopLevel)) && self.lines == Some(true);
        self.state = State::Value {
            start: at,
            at,
            tracker: Box::new(Tracker::new(lines)),
            role,
        };
    }

    /// Tracks a value to its end.
    fn value(&mut self) -> Step {
        let State::Value {
            start,
            at,
            ref mut tracker,
            role,
        } = self.state
        else {
            unreachable!()
        };
        let from = (at - self.base) as usize;
        let limit = ((start - self.base) as usize).saturating_add(MAX_RECORD_BYTES);
        let last = self.boundary.is_some();
        let track = tracker.run(
            self.engine,
            &self.buf[..self.end],
            from,
            last,
            limit,
            self.base,
        );
        match track {
            Track::More(p) => {
                if let State::Value { ref mut at, .. } = self.state {
                    *at = self.base + p as u64;
                }
                Step::Exhausted
            }
            Track::Closed(e) => {
                let end = self.base + e as u64;
                let too_deep = tracker.too_deep;
                let what = match role {
                    Role::Object(_) if too_deep => PendingKind::TooDeep,
                    Role::Object(f) => PendingKind::Record(f),
                    Role::Array(f) => PendingKind::NotObject(f, "an array"),
                    Role::WrapperTail => {
                        self.level = Level::Top;
                        PendingKind::WrapperEnd
                    }
                };
                if let Level::Array { wrapped, .. } = self.level {
                    self.level = Level::Array {
                        wrapped,
                        expect: Expect::SeparatorOrEnd,
                    };
                }
                self.pending = Some(Pending { start, end, what });
                self.state = State::Between { pos: end };
                Step::Continue
            }
            Track::Failed(e, reason) => {
                let at = self.base + e as u64;
                let reason = if matches!(reason, SkipReason::Truncated) {
                    self.boundary_reason()
                } else {
                    reason
                };
                self.fail(start, at, reason);
                Step::Continue
            }
        }
    }

    /// Reads a scalar element (string, number, literal) to its end.
    fn scalar(&mut self) -> Step {
        let State::Scalar { start, framing } = self.state else {
            unreachable!()
        };
        let i = self.idx(start);
        let data = &self.buf[..self.end];
        let last = self.boundary.is_some();
        match scalar_end(data, i, last) {
            Ok(Some((e, kind))) => {
                let end = self.base + e as u64;
                if let Level::Array { wrapped, .. } = self.level {
                    self.level = Level::Array {
                        wrapped,
                        expect: Expect::SeparatorOrEnd,
                    };
                }
                self.pending = Some(Pending {
                    start,
                    end,
                    what: PendingKind::NotObject(framing, kind),
                });
                self.state = State::Between { pos: end };
                Step::Continue
            }
            Ok(None) if e_too_large(data.len(), i) => {
                self.fail(start, self.data_end(), SkipReason::TooLarge);
                Step::Continue
            }
            Ok(None) if !last => Step::Exhausted,
            Ok(None) => {
                let reason = self.boundary_reason();
                self.fail(start, self.data_end(), reason);
                Step::Continue
            }
            Err((e, what)) => {
                let at = self.base + e as u64;
                self.fail(start, at, syntax(self.base, e, what));
                Step::Continue
            }
        }
    }

    /// Looks for the next place to start reading again.
    fn resync(&mut self) -> Step {
        let State::Resync {
            ref skip,
            search,
            gap_at,
        } = self.state
        else {
            unreachable!()
        };
        let skip = skip.clone();
        let data = &self.buf[..self.end];
        let last = self.boundary.is_some();
        let mut i = self.idx(search.max(self.base));
        while i < self.end {
            let Some(k) = memchr::memchr(b'{', &data[i..]) else {
                i = self.end;
                break;
            };
            let j = i + k;
            match self.candidate(j, gap_at, last) {
                Some(Some(cand)) => {
                    let at = self.base + j as u64;
                    self.probation = Some(Skip {
                        resume: at,
                        ..skip.clone()
                    });
                    match cand {
                        Candidate::Element => {
                            let wrapped = self.kind != Kind::Array;
                            self.level = Level::Array {
                                wrapped,
                                expect: Expect::Element,
                            };
                        }
                        Candidate::Top => self.level = Level::Top,
                    }
                    self.state = State::Between { pos: at };
                    return Step::Continue;
                }
                Some(None) => i = j + 1,
                None => {
                    // Not enough bytes after `{` to decide: wait for more.
                    i = j;
                    break;
                }
            }
        }
        self.state = State::Resync {
            skip,
            search: self.base + i as u64,
            gap_at,
        };
        Step::Exhausted
    }

    /// Whether the `{` at index `j` starts a record to resume at: Some(Some(where)), Some(None)
    /// for no, None when more data is needed to tell.
    fn candidate(&self, j: usize, gap_at: Option<u64>, last: bool) -> Option<Option<Candidate>> {
        let data = &self.buf[..self.end];
        match wrapper_prefix(data, j) {
            Prefix::Wrapper(_) => return Some(Some(Candidate::Top)),
            Prefix::NeedMore if !last => return None,
            _ => {}
        }
        // The next non-blank byte must open a member name.
        let next = match data[j + 1..]
            .iter()
            .take(CONTEXT)
            .position(|&b| !is_blank(b))
        {
            Some(k) => data[j + 1 + k],
            None if !last && self.end - (j + 1) < CONTEXT => return None,
            None => return Some(None),
        };
        if next != b'"' {
            return Some(None);
        }
        // What comes before it.
        let lo = j.saturating_sub(CONTEXT);
        let mut prev = None;
        let mut newline = false;
        for k in (lo..j).rev() {
            let b = data[k];
            if b == b'\n' {
                newline = true;
            }
            if !is_blank(b) {
                prev = Some(b);
                break;
            }
        }
        let off = self.base + j as u64;
        let blank_to_gap = gap_at.is_some_and(|g| {
            g <= off
                && data[self.idx(g.max(self.base))..j]
                    .iter()
                    .all(|&b| is_blank(b))
        });
        let stream_start = prev.is_none() && self.base + lo as u64 == 0;
        let array_level = matches!(self.level, Level::Array { .. });
        let found = match self.kind {
            Kind::Wrapper | Kind::Array => {
                if prev == Some(b',') {
                    Some(Candidate::Element)
                } else if blank_to_gap {
                    Some(if array_level {
                        Candidate::Element
                    } else {
                        Candidate::Top
                    })
                } else {
                    None
                }
            }
            Kind::Objects | Kind::Unknown => {
                let line_start = newline || stream_start || prev == Some(b'}');
                (line_start || blank_to_gap).then_some(Candidate::Top)
            }
        };
        Some(found)
    }
}

/// True for JSON whitespace.
#[inline]
fn is_blank(b: u8) -> bool {
    matches!(b, b' ' | b'\n' | b'\r' | b'\t')
}

/// Skips whitespace and UTF-8 byte order marks.
fn skip_blank(buf: &[u8], mut i: usize) -> usize {
    while i < buf.len() {
        match buf[i] {
            b' ' | b'\n' | b'\r' | b'\t' => i += 1,
            0xEF if buf[i..].starts_with(&[0xEF, 0xBB, 0xBF]) => i += 3,
            _ => break,
        }
    }
    i
}

/// True for the first byte of a string, number or literal.
fn scalar_start(c: u8) -> bool {
    matches!(c, b'"' | b'-' | b'0'..=b'9' | b't' | b'f' | b'n')
}

/// True when a scalar starting at `i` has outgrown the record limit.
fn e_too_large(len: usize, i: usize) -> bool {
    len - i > MAX_RECORD_BYTES
}

/// Finds the end of the scalar at `i`: Ok(Some((end, kind))), Ok(None) when the data ends
/// first (at the end of the input: truncated), Err((index, what)) when it is not a scalar.
#[allow(clippy::type_complexity)]
fn scalar_end(
    buf: &[u8],
    i: usize,
    last: bool,
) -> Result<Option<(usize, &'static str)>, (usize, String)> {
    match buf[i] {
        b'"' => {
            let mut j = i + 1;
            loop {
                let Some(k) = memchr::memchr2(b'"', b'\\', &buf[j..]) else {
                    return Ok(None);
                };
                if let Some(c) = buf[j..j + k].iter().position(|&b| b < 0x20) {
                    let at = j + c;
                    return Err((
                        at,
                        format!("control character 0x{:02x} in a string", buf[at]),
                    ));
                }
                if buf[j + k] == b'\\' {
                    j += k + 2;
                    if j > buf.len() {
                        return Ok(None);
                    }
                } else {
                    return Ok(Some((j + k + 1, "a string")));
                }
            }
        }
        b't' | b'f' | b'n' => {
            let (word, kind): (&[u8], _) = match buf[i] {
                b't' => (b"true", "a boolean"),
                b'f' => (b"false", "a boolean"),
                _ => (b"null", "null"),
            };
            let have = &buf[i..buf.len().min(i + word.len())];
            if !word.starts_with(have) {
                let k = have.iter().zip(word).position(|(a, b)| a != b).unwrap_or(0);
                return Err((i + k, format!("unexpected {:?}", have[k] as char)));
            }
            if have.len() < word.len() {
                return Ok(None);
            }
            Ok(Some((i + word.len(), kind)))
        }
        _ => {
            let n = buf[i..]
                .iter()
                .position(|&b| !matches!(b, b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E'));
            match n {
                Some(n) => Ok(Some((i + n, "a number"))),
                None if last => Ok(Some((buf.len(), "a number"))),
                None => Ok(None),
            }
        }
    }
}

/// Whether the `]` at `i` really ends the records array: followed by the end of the wrapper
/// object (then the end of input or another value) or by more wrapper members (`,"NextToken"`),
/// or for a bare array by the end of input or another value. None: more data is needed.
fn array_end_ok(buf: &[u8], i: usize, wrapped: bool, last: bool) -> Option<bool> {
    let next = |from: usize| -> Option<Option<u8>> {
        let k = buf[from.min(buf.len())..]
            .iter()
            .take(CONTEXT)
            .position(|&b| !is_blank(b));
        match k {
            Some(k) => Some(Some(buf[from + k])),
            None if last || buf.len().saturating_sub(from) >= CONTEXT => Some(None),
            None => None,
        }
    };
    let after_value = |c: Option<u8>| matches!(c, None | Some(b'{') | Some(b'['));
    if !wrapped {
        return next(i + 1).map(after_value);
    }
    let j = i
        + 1
        + buf[i + 1..]
            .iter()
            .take(CONTEXT)
            .take_while(|&&b| is_blank(b))
            .count();
    match next(i + 1)? {
        Some(b'}') => next(j + 1).map(after_value),
        Some(b',') => Some(true),
        _ => Some(false),
    }
}

enum Prefix {
    Wrapper(usize),
    NeedMore,
    Other,
}

/// Recognizes `{ "Records" : [` or `{ "Events" : [` at `i`; returns the offset after `[`.
fn wrapper_prefix(buf: &[u8], i: usize) -> Prefix {
    let blank = |mut j: usize| {
        while j < buf.len() && j < i + CONTEXT && is_blank(buf[j]) {
            j += 1;
        }
        j
    };
    let j = blank(i + 1);
    for key in [&b"\"Records\""[..], &b"\"Events\""[..]] {
        let avail = &buf[j.min(buf.len())..];
        if avail.len() < key.len() {
            if key.starts_with(avail) {
                return Prefix::NeedMore;
            }
            continue;
        }
        if !avail.starts_with(key) {
            continue;
        }
        let j = blank(j + key.len());
        if j >= buf.len() {
            return Prefix::NeedMore;
        }
        if buf[j] != b':' {
            return Prefix::Other;
        }
        let j = blank(j + 1);
        if j >= buf.len() {
            return Prefix::NeedMore;
        }
        return if buf[j] == b'[' {
            Prefix::Wrapper(j + 1)
        } else {
            Prefix::Other
        };
    }
    Prefix::Other
}

#[cfg(test)]
mod tests;
