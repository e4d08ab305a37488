//! A multi-member gzip reader that passes over corrupt members instead of stopping.
//!
//! Members are read one after another (a CloudTrail export may concatenate many). When a
//! member is corrupt (a bad header, invalid deflate data, a CRC or length mismatch) the reader
//! returns one [`Gap`] error saying what was passed over, and goes on: it looks for the next
//! member header (`1f 8b 08`) in the compressed bytes, from just after the corrupt member's
//! start, and takes the first one whose data inflates. The bytes the corrupt member inflated
//! to before the error were already returned; the record splitter drops the record the gap
//! cuts. A stream that ends inside a member is reported as a gap, then as the end.
//!
//! Trailing zero bytes after the last member (padding some tools write) are ignored; any other
//! trailing bytes are reported.

use std::io::{self, Read};

use flate2::{Crc, Decompress, FlushDecompress, Status};

use super::pool::Pool;
use super::scanner::Gap;

/// Compressed bytes read from the source at a time, at most; the first read is `FIRST_READ`
/// and each next one twice the last, so that a small file never gets a large zeroed buffer.
const IN_CHUNK: usize = 256 * 1024;
const FIRST_READ: usize = 16 * 1024;
/// How far back (compressed bytes before the read position) a corrupt member's start is kept
/// for the search for the next member.
const KEEP_BACK: usize = 8 * 1024 * 1024;
/// Output a candidate member must inflate to without error to be taken (or reach its end).
const VERIFY_OUT: usize = 64 * 1024;
/// Longest gzip header accepted (file name and comment included).
const MAX_HEADER: usize = 64 * 1024;

const FHCRC: u8 = 2;
const FEXTRA: u8 = 4;
const FNAME: u8 = 8;
const FCOMMENT: u8 = 16;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Part {
    Header,
    Body,
    Trailer,
    /// Looking for the next member after a corrupt one.
    Search,
    Done,
}

/// Compressed-input buffers handed from one gzip reader to the next. A reader's buffer
/// grows past 128 KiB on most CloudTrail files, and a fresh one per file was mapped, zeroed
/// and unmapped again: a tenth of the sparse scan.
pub type BufferPool = Pool<Vec<u8>>;

/// Larger buffers (a whole large file held for resynchronizing) are cut to this size
/// before they go back to the pool.
const POOL_BUFFER_MAX: usize = 4 * IN_CHUNK;

/// Reads gzip members from `R` as one stream of inflated bytes.
pub struct GzipReader<R> {
    inner: R,
    /// Compressed bytes read; its length is how far it has been written (its contents past
    /// `end` are stale).
    buf: Vec<u8>,
    /// Where `buf` goes back when the reader is done.
    pool: Option<BufferPool>,
    /// Size of the next read.
    chunk: usize,
    /// Next unconsumed byte of `buf`.
    pos: usize,
    /// End of the data in `buf`.
    end: usize,
    /// Compressed offset of `buf[0]`.
    base: u64,
    eof: bool,
    part: Part,
    inflate: Decompress,
    crc: Crc,
    /// Compressed offset of the current member's first byte.
    member: u64,
    /// Members read so far (complete or not).
    members: u64,
    /// Why the current member was given up, and where the error was (compressed offset).
    trouble: Option<(String, u64)>,
    /// Start of the last member when its trailer did not match: its data may have ended
    /// before or after its real end, so when no header follows, the search for the next
    /// member starts from there.
    suspect: Option<u64>,
}

impl<R: Read> GzipReader<R> {
    /// A reader of the gzip stream `inner` (which starts with a member header).
    pub fn new(inner: R) -> Self {
        Self::start(inner, Vec::new(), None)
    }

    /// [`GzipReader::new`] with its buffer taken from `pool`, and given back when dropped.
    pub fn pooled(inner: R, pool: &BufferPool) -> Self {
        Self::start(inner, pool.take(), Some(pool.clone()))
    }

    fn start(inner: R, buf: Vec<u8>, pool: Option<BufferPool>) -> Self {
        GzipReader {
            inner,
            buf,
            pool,
            chunk: FIRST_READ,
            pos: 0,
            end: 0,
            base: 0,
            eof: false,
            part: Part::Header,
            inflate: Decompress::new(false),
            crc: Crc::new(),
            member: 0,
            members: 0,
            trouble: None,
            suspect: None,
        }
    }

    /// Compressed offset of the read position.
    fn offset(&self) -> u64 {
        self.base + self.pos as u64
    }

    /// Where the current member starts, if that is near enough to keep in memory.
    fn hold_member(&self) -> u64 {
        if self.offset() - self.member.min(self.offset()) <= KEEP_BACK as u64 {
            self.member
        } else {
            self.offset()
        }
    }

    /// Reads more compressed bytes, keeping `buf` from `hold` (a compressed offset) or the
    /// read position, whichever is first. Returns false at the end of the source.
    fn more(&mut self, hold: u64) -> io::Result<bool> {
        if self.eof {
            return Ok(false);
        }
        let want = self.chunk;
        self.chunk = (self.chunk * 2).min(IN_CHUNK);
        if self.buf.len() - self.end < want {
            let keep = (hold.max(self.base) - self.base).min(self.pos as u64) as usize;
            self.buf.copy_within(keep..self.end, 0);
            self.end -= keep;
            self.pos -= keep;
            self.base += keep as u64;
            if self.buf.len() - self.end < want {
                self.buf.resize(self.end + want, 0);
            }
        }
        loop {
            let stop = self.end + want;
            match self.inner.read(&mut self.buf[self.end..stop]) {
                Ok(0) => {
                    self.eof = true;
                    return Ok(false);
                }
                Ok(n) => {
                    self.end += n;
                    return Ok(true);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }

    /// Gives up the current member: the next read reports it and searches for the next one.
    fn corrupt(&mut self, why: String) {
        self.trouble = Some((why, self.offset()));
        self.part = Part::Search;
    }

    /// The stream ends inside a member. Its length fields may be what is corrupt, so the
    /// search for a next member runs over the bytes after its start; the gap says what was
    /// found.
    fn truncated(&mut self) -> io::Error {
        self.trouble = Some((
            "the input ends inside it: truncated file?".to_string(),
            self.offset(),
        ));
        self.part = Part::Search;
        match self.search() {
            Ok(gap) => gap.into_io(),
            Err(e) => e,
        }
    }

    /// Parses the member header at the read position.
    fn header(&mut self) -> io::Result<()> {
        loop {
            let data = &self.buf[self.pos..self.end];
            let hold = self.suspect.unwrap_or(self.offset());
            if data.is_empty() && !self.more(hold)? {
                self.part = Part::Done;
                return Ok(());
            }
            let data = &self.buf[self.pos..self.end];
            let zeros = data.iter().take_while(|&&b| b == 0).count();
            if zeros > 0 {
                // Zero padding after a member.
                self.pos += zeros;
                continue;
            }
            match header_len(data) {
                Ok(n) => {
                    self.suspect = None;
                    self.member = self.offset();
                    self.members += 1;
                    self.pos += n;
                    self.inflate.reset(false);
                    self.crc.reset();
                    self.part = Part::Body;
                    return Ok(());
                }
                Err(HeaderError::Short) => {
                    if !self.more(hold)? {
                        self.member = self.offset();
                        self.members += 1;
                        return Err(self.truncated());
                    }
                }
                Err(HeaderError::Invalid(why)) if self.suspect.is_some() => {
                    // The member before failed its trailer check: search from its start.
                    self.member = self.suspect.take().unwrap_or(self.member);
                    self.corrupt(format!("no member header follows it: {why}"));
                    return Ok(());
                }
                Err(HeaderError::Invalid(why)) => {
                    self.member = self.offset();
                    self.members += 1;
                    self.corrupt(why);
                    return Ok(());
                }
            }
        }
    }

    /// Inflates into `out`; returns the bytes written (0 when the member ended or broke).
    fn body(&mut self, out: &mut [u8]) -> io::Result<usize> {
        loop {
            if self.pos == self.end && !self.more(self.hold_member())? {
                return Err(self.truncated());
            }
            let (in0, out0) = (self.inflate.total_in(), self.inflate.total_out());
            let status =
                self.inflate
                    .decompress(&self.buf[self.pos..self.end], out, FlushDecompress::None);
            let used = (self.inflate.total_in() - in0) as usize;
            let made = (self.inflate.total_out() - out0) as usize;
            self.pos += used;
            self.crc.update(&out[..made]);
            match status {
                Ok(Status::StreamEnd) => {
                    self.part = Part::Trailer;
                    return Ok(made);
                }
                Ok(_) if made > 0 => return Ok(made),
                Ok(_) => {
                    if used == 0 && !self.more(self.hold_member())? {
                        return Err(self.truncated());
                    }
                }
                Err(e) => {
                    self.corrupt(format!("invalid deflate data: {e}"));
                    return Ok(made);
                }
            }
        }
    }

    /// Checks the member trailer (CRC-32 and length).
    fn trailer(&mut self) -> io::Result<Option<Gap>> {
        while self.end - self.pos < 8 {
            if !self.more(self.hold_member())? {
                return Err(self.truncated());
            }
        }
        let t = &self.buf[self.pos..self.pos + 8];
        let crc = u32::from_le_bytes([t[0], t[1], t[2], t[3]]);
        let len = u32::from_le_bytes([t[4], t[5], t[6], t[7]]);
        self.pos += 8;
        self.part = Part::Header;
        if crc != self.crc.sum() || len != self.crc.amount() {
            self.suspect = Some(self.member);
            return Ok(Some(Gap {
                lost: 0,
                reason: format!(
                    "gzip member {} (at byte {}) fails its CRC/length check: its data may be corrupt",
                    self.members, self.member
                ),
            }));
        }
        Ok(None)
    }

    /// Finds the next member that inflates; returns the gap to report.
    fn search(&mut self) -> io::Result<Gap> {
        let (why, err_at) = self
            .trouble
            .take()
            .unwrap_or_else(|| ("not gzip data".to_string(), self.offset()));
        let mut from = (self.member + 1).max(self.base);
        loop {
            let i = (from - self.base) as usize;
            let found = memchr::memmem::find(&self.buf[i..self.end], &[0x1f, 0x8b, 0x08]);
            match found {
                Some(k) => {
                    // The candidate's offset: `verify` may read more, which can move the
                    // buffer (never past the candidate), even when it then finds the end.
                    let next = self.base + (i + k) as u64;
                    match self.verify(i + k)? {
                        Some(true) => {
                            let lost = next.saturating_sub(err_at);
                            self.pos = (next - self.base) as usize;
                            self.part = Part::Header;
                            return Ok(Gap {
                                lost,
                                reason: format!(
                                    "gzip member {} (at byte {}) is corrupt ({why}); skipped {lost} bytes to the next member at byte {next}",
                                    self.members, self.member
                                ),
                            });
                        }
                        Some(false) => from = next + 1,
                        // `verify` read more data; the buffer may have moved past `from`
                        // (up to the candidate, and nothing before it was a header).
                        None => from = from.max(self.base),
                    }
                }
                None => {
                    // Keep the last two bytes: a header may straddle the reads.
                    from = (self.base + self.end as u64).saturating_sub(2).max(from);
                    self.pos = self.end;
                    if !self.more(from)? {
                        let end = self.base + self.end as u64;
                        self.part = Part::Done;
                        let lost = end.saturating_sub(err_at);
                        let rest = if lost > 0 {
                            format!("; no gzip member follows: the last {lost} bytes were not read")
                        } else {
                            String::new()
                        };
                        return Ok(Gap {
                            lost,
                            reason: format!(
                                "gzip member {} (at byte {}) is corrupt ({why}){rest}",
                                self.members, self.member
                            ),
                        });
                    }
                }
            }
        }
    }

    /// Whether a member starting at `at` inflates: Some(yes or no), or None after reading
    /// more data (call again). Reading more may move the buffer (never past `at`), also when
    /// it then finds the end of the input.
    fn verify(&mut self, at: usize) -> io::Result<Option<bool>> {
        let hold = self.base + at as u64;
        let n = match header_len(&self.buf[at..self.end]) {
            Ok(n) => n,
            Err(HeaderError::Invalid(_)) => return Ok(Some(false)),
            Err(HeaderError::Short) => {
                self.pos = self.pos.max(at);
                return Ok(if self.more(hold)? { None } else { Some(false) });
            }
        };
        let mut inflate = Decompress::new(false);
        let mut out = vec![0u8; VERIFY_OUT];
        let input = &self.buf[at + n..self.end];
        let ok = match inflate.decompress(input, &mut out, FlushDecompress::None) {
            Err(_) => false,
            Ok(Status::StreamEnd) => {
                // A whole member: its trailer must match too.
                let (used, made) = (inflate.total_in() as usize, inflate.total_out() as usize);
                match input.get(used..used + 8) {
                    Some(t) => {
                        let mut crc = Crc::new();
                        crc.update(&out[..made]);
                        t[..4] == crc.sum().to_le_bytes() && t[4..] == crc.amount().to_le_bytes()
                    }
                    None => {
                        self.pos = self.pos.max(at);
                        if self.more(hold)? {
                            return Ok(None);
                        }
                        true
                    }
                }
            }
            Ok(_) if inflate.total_out() as usize == VERIFY_OUT => true,
            Ok(_) => {
                // The input ran out first: read more unless at the end.
                self.pos = self.pos.max(at);
                if self.more(hold)? {
                    return Ok(None);
                }
                true
            }
        };
        Ok(Some(ok))
    }
}

impl<R> Drop for GzipReader<R> {
    fn drop(&mut self) {
        if let Some(pool) = &self.pool {
            let mut buf = std::mem::take(&mut self.buf);
            if buf.capacity() > POOL_BUFFER_MAX {
                buf.truncate(POOL_BUFFER_MAX);
                buf.shrink_to(POOL_BUFFER_MAX);
            }
            pool.give(buf);
        }
    }
}

impl<R: Read> Read for GzipReader<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if out.is_empty() {
            return Ok(0);
        }
        loop {
            match self.part {
                Part::Header => self.header()?,
                Part::Body => {
                    let n = self.body(out)?;
                    if n > 0 {
                        return Ok(n);
                    }
                }
                Part::Trailer => {
                    if let Some(gap) = self.trailer()? {
                        return Err(gap.into_io());
                    }
                }
                Part::Search => return Err(self.search()?.into_io()),
                Part::Done => {
                    if self.pos < self.end || self.more(self.offset())? {
                        // Bytes after the last member that are not zeros.
                        self.part = Part::Header;
                        continue;
                    }
                    return Ok(0);
                }
            }
        }
    }
}

/// Why a header could not be parsed.
enum HeaderError {
    /// More bytes are needed.
    Short,
    Invalid(String),
}

/// The length of the gzip member header at the start of `d`.
fn header_len(d: &[u8]) -> Result<usize, HeaderError> {
    if d.len() < 10 {
        let magic = [0x1f, 0x8b, 0x08];
        let k = d.len().min(3);
        if d[..k] != magic[..k] {
            return Err(HeaderError::Invalid("not a gzip member header".into()));
        }
        return Err(HeaderError::Short);
    }
    if d[0] != 0x1f || d[1] != 0x8b {
        return Err(HeaderError::Invalid("not a gzip member header".into()));
    }
    if d[2] != 8 {
        return Err(HeaderError::Invalid(format!(
            "unknown compression method {}",
            d[2]
        )));
    }
    let flags = d[3];
    if flags & 0xe0 != 0 {
        return Err(HeaderError::Invalid("reserved header flags set".into()));
    }
    let mut i = 10;
    if flags & FEXTRA != 0 {
        if d.len() < i + 2 {
            return Err(HeaderError::Short);
        }
        i += 2 + u16::from_le_bytes([d[i], d[i + 1]]) as usize;
    }
    for flag in [FNAME, FCOMMENT] {
        if flags & flag != 0 {
            match d.get(i..).and_then(|r| memchr::memchr(0, r)) {
                Some(z) => i += z + 1,
                None if d.len() > MAX_HEADER => {
                    return Err(HeaderError::Invalid(
                        "header name or comment too long".into(),
                    ));
                }
                None => return Err(HeaderError::Short),
            }
        }
    }
    if flags & FHCRC != 0 {
        i += 2;
    }
    if i > d.len() {
        return Err(HeaderError::Short);
    }
    Ok(i)
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::Compression;
    use flate2::write::GzEncoder;
    use std::io::Write;

    fn gz(data: &[u8]) -> Vec<u8> {
        let mut e = GzEncoder::new(Vec::new(), Compression::default());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    /// Reads everything, collecting data and gap reasons; `chunk` limits each read.
    fn read_all(input: &[u8], chunk: usize) -> (Vec<u8>, Vec<String>) {
        let mut r = GzipReader::new(input);
        let mut out = Vec::new();
        let mut gaps = Vec::new();
        let mut buf = vec![0; chunk];
        loop {
            match r.read(&mut buf) {
                Ok(0) => return (out, gaps),
                Ok(n) => out.extend_from_slice(&buf[..n]),
                Err(e) => gaps.push(Gap::from_io(&e).expect("only gaps").reason.clone()),
            }
        }
    }

    #[test]
    fn a_pooled_buffer_goes_back_and_its_old_bytes_never_leak_into_the_next_file() {
        let pool = BufferPool::default();
        // Nearly incompressible: the buffer holds the whole member, larger than the cut.
        let big: Vec<u8> = (0..400_000u32)
            .flat_map(|i| i.wrapping_mul(2_654_435_761).to_le_bytes())
            .collect();
        let mut out = Vec::new();
        GzipReader::pooled(&gz(&big)[..], &pool)
            .read_to_end(&mut out)
            .unwrap();
        assert_eq!(out, big);
        let kept = pool.take().capacity();
        assert!(
            (128 * 1024..=POOL_BUFFER_MAX).contains(&kept),
            "the grown buffer is kept, cut to the pool's size ({kept} bytes)"
        );
        pool.give(vec![0xee; kept]);
        // The next file is short and then corrupt: what it reads comes from it alone.
        let mut next = gz(b"small file\n");
        next.extend_from_slice(&[0x1f, 0x8b, 0x08, 0, 0, 0, 0, 0, 0, 0xff, 1, 2, 3]);
        let mut r = GzipReader::pooled(&next[..], &pool);
        assert!(pool.is_empty(), "the buffer was taken");
        let mut out = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            match r.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => out.extend_from_slice(&buf[..n]),
                Err(e) => assert!(Gap::from_io(&e).is_some(), "{e}"),
            }
        }
        assert_eq!(out, b"small file\n");
        drop(r);
        assert_eq!(pool.len(), 1);
    }

    #[test]
    fn reads_concatenated_members() {
        let mut data = gz(b"hello ");
        data.extend(gz(b"world"));
        data.extend(gz(b""));
        for chunk in [1, 3, 4096] {
            assert_eq!(read_all(&data, chunk), (b"hello world".to_vec(), vec![]));
        }
    }

    #[test]
    fn a_corrupt_member_is_passed_over() {
        let lines: Vec<String> = (0..20)
            .map(|i| format!("line {i} {}\n", "x".repeat(i * 50)))
            .collect();
        let members: Vec<Vec<u8>> = lines.iter().map(|l| gz(l.as_bytes())).collect();
        let mut data = Vec::new();
        for (i, m) in members.iter().enumerate() {
            let mut m = m.clone();
            if i == 7 {
                // Break the deflate data (past the 10-byte header).
                for b in &mut m[10..14] {
                    *b ^= 0x55;
                }
            }
            data.extend(m);
        }
        let (out, gaps) = read_all(&data, 4096);
        let text = String::from_utf8_lossy(&out);
        for (i, l) in lines.iter().enumerate() {
            if i != 7 {
                assert!(text.contains(l.as_str()), "line {i} missing");
            }
        }
        assert_eq!(gaps.len(), 1, "{gaps:?}");
        assert!(gaps[0].contains("member 8"), "{gaps:?}");
    }

    #[test]
    fn truncation_and_trailing_bytes_are_reported() {
        let mut data = gz(b"first\n");
        let second = gz(b"second member\n");
        data.extend(&second[..second.len() - 3]);
        let (out, gaps) = read_all(&data, 4096);
        assert!(out.starts_with(b"first\nsecond member"));
        assert_eq!(gaps.len(), 1);
        assert!(gaps[0].contains("truncated"), "{gaps:?}");

        let mut padded = gz(b"data");
        padded.extend([0u8; 512]);
        assert_eq!(read_all(&padded, 4096), (b"data".to_vec(), vec![]));

        let mut junk = gz(b"data");
        junk.extend(b"junk after the member");
        let (out, gaps) = read_all(&junk, 4096);
        assert_eq!(out, b"data");
        assert_eq!(gaps.len(), 1, "{gaps:?}");
    }

    #[test]
    fn a_crc_mismatch_is_reported_and_reading_goes_on() {
        let mut first = gz(b"first\n");
        let n = first.len();
        first[n - 8] ^= 1;
        first.extend(gz(b"second\n"));
        let (out, gaps) = read_all(&first, 4096);
        assert_eq!(out, b"first\nsecond\n");
        assert_eq!(gaps.len(), 1);
        assert!(gaps[0].contains("CRC"), "{gaps:?}");
    }

    /// Found by the `gzip` fuzz target: after a corrupt member, the next member's header
    /// straddled the end of the compressed bytes read so far; reading more moved the buffer
    /// past the search position (an overflow panic).
    #[test]
    fn a_next_member_header_across_a_read_boundary_is_found() {
        let mut data = gz(b"lost\n");
        for b in &mut data[10..14] {
            *b ^= 0x55;
        }
        // The next member's header (with a long file name) starts just before the end of the
        // first read and ends after it.
        data.resize(FIRST_READ - 4, b'x');
        let mut named = Vec::new();
        let mut e = flate2::GzBuilder::new()
            .filename("n".repeat(100))
            .write(&mut named, flate2::Compression::default());
        e.write_all(b"found\n").unwrap();
        e.finish().unwrap();
        data.extend(named);
        for chunk in [7, 4096] {
            let (out, gaps) = read_all(&data, chunk);
            assert!(
                out.ends_with(b"found\n"),
                "{:?}",
                String::from_utf8_lossy(&out)
            );
            assert_eq!(gaps.len(), 1, "{gaps:?}");
        }
    }

    /// Found by the `gzip` fuzz target: a changed byte near the end of a member's deflate
    /// data made it end past its real end (into the next member's header), so its trailer
    /// failed and no header followed where expected; the next member was then lost. Every
    /// byte of the middle member changed, in turn: the first and last members are read whole.
    #[test]
    fn any_changed_byte_in_a_member_costs_only_that_member() {
        let parts: Vec<Vec<u8>> = (0..3)
            .map(|k| {
                (0..12)
                    .map(|i| {
                        format!(
                            "{{\"eventID\":\"{k}-{i}\",\"n\":{}}}\n",
                            i * i * 7919 % 1000
                        )
                    })
                    .collect::<String>()
                    .into_bytes()
            })
            .collect();
        let fast = |d: &[u8]| {
            let mut e = GzEncoder::new(Vec::new(), Compression::fast());
            e.write_all(d).unwrap();
            e.finish().unwrap()
        };
        let members: Vec<Vec<u8>> = parts.iter().map(|p| fast(p)).collect();
        let stream = members.concat();
        let mut failures = Vec::new();
        for at in members[0].len()..members[0].len() + members[1].len() {
            for x in [1u8, 9, 0x80, 0xff] {
                let mut s = stream.clone();
                s[at] ^= x;
                let (out, gaps) = read_all(&s, 4096);
                if !out.starts_with(&parts[0]) || !out.ends_with(&parts[2]) {
                    failures.push(format!("byte {at} ^ {x:#x}: {gaps:?}"));
                }
            }
        }
        assert!(failures.is_empty(), "{}", failures.join("\n"));
    }

    /// Found by the `gzip` fuzz target: the member after a corrupt one was cut short, so
    /// checking it read to the end of the input, which moved the buffer; its offset was then
    /// taken in the moved buffer (past the end of the input: a panic).
    #[test]
    fn a_truncated_member_after_a_corrupt_one_is_read_up_to_its_end() {
        let mut data = gz(b"lost\n");
        data[3] = 0xe0; // reserved header flags
        let first = data.len();
        let second = gz(b"kept\n");
        data.extend(&second[..second.len() - 3]);
        for chunk in [1, 4096] {
            let (out, gaps) = read_all(&data, chunk);
            assert_eq!(out, b"kept\n");
            assert_eq!(gaps.len(), 2, "{gaps:?}");
            assert!(
                gaps[0].contains(&format!("next member at byte {first}")),
                "{gaps:?}"
            );
            assert!(gaps[1].contains("truncated"), "{gaps:?}");
        }
    }

    /// Found by the `gzip` fuzz target: a changed flag byte gave a member's header an extra
    /// field running past the end of the input, which ended reading as a truncated file;
    /// the next member was lost.
    #[test]
    fn a_header_running_past_the_end_costs_only_its_member() {
        let mut data = gz(b"first\n");
        let second = data.len();
        data.extend(gz(b"lost\n"));
        data[second + 3] ^= 0x17; // FHCRC, FEXTRA, FNAME: the "extra" length is garbage
        data.extend(gz(b"third\n"));
        for chunk in [1, 4096] {
            let (out, gaps) = read_all(&data, chunk);
            assert!(
                out.starts_with(b"first\n") && out.ends_with(b"third\n"),
                "{out:?}"
            );
            assert_eq!(gaps.len(), 1, "{gaps:?}");
            assert!(gaps[0].contains("member 2"), "{gaps:?}");
        }
    }
}
