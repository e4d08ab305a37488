//! Splits a stream of CloudTrail JSON into individual records without parsing them.
//!
//! Supports `{"Records":[...]}` delivery files, LookupEvents pages (`{"Events":[...]}`),
//! bare JSON arrays and concatenated / newline-delimited objects. Only the structure
//! (strings, brackets) is tracked, so records that cannot be relevant are never parsed.

use std::io::Read;

/// Largest single record accepted; CloudTrail caps events at 256 KB.
pub const MAX_RECORD_BYTES: usize = 32 * 1024 * 1024;
const READ_CHUNK: usize = 1024 * 1024;

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

/// What went wrong while splitting; the records before it were delivered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScanError {
    Read(String),
    Empty,
    NotJson(u64, char),
    Unexpected(u64, char),
    Truncated(u64),
    TooLarge(u64),
}

impl std::fmt::Display for ScanError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ScanError::Read(e) => write!(f, "read failed (corrupt or truncated gzip?): {e}"),
            ScanError::Empty => write!(f, "empty input: no JSON found"),
            ScanError::NotJson(o, c) => write!(f, "not JSON: unexpected {c:?} at byte {o}"),
            ScanError::Unexpected(o, c) => {
                write!(
                    f,
                    "invalid JSON: unexpected {c:?} at byte {o}; the rest of the input was not read"
                )
            }
            ScanError::Truncated(o) => {
                write!(
                    f,
                    "input ends inside a record that starts at byte {o} (truncated file?)"
                )
            }
            ScanError::TooLarge(o) => write!(
                f,
                "record at byte {o} is larger than {} MiB; the rest of the input was not read",
                MAX_RECORD_BYTES >> 20
            ),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Start,
    /// Inside the records array of a wrapper object, before an element.
    WrapperArray,
    /// After the records array: skipping the rest of the wrapper object.
    WrapperTail,
    /// Inside a bare top-level array.
    TopArray,
}

/// Streams records out of `reader`, calling `sink(bytes, framing)` for each one.
///
/// Returns the number of bytes read and the first structural error, if any.
pub fn split_records<R: Read>(
    mut reader: R,
    sink: &mut dyn FnMut(&[u8], Framing),
) -> (u64, Option<ScanError>) {
    let mut buf: Vec<u8> = Vec::with_capacity(READ_CHUNK * 2);
    let mut base: u64 = 0; // stream offset of buf[0]
    let mut mode = Mode::Start;
    let mut seen_any = false;
    let mut eof = false;
    let mut pos = 0usize;
    let mut read_error = None;
    loop {
        if !eof {
            match fill(&mut reader, &mut buf) {
                Ok(0) => eof = true,
                Ok(_) => {}
                Err(e) => {
                    // Deliver the complete records read before the failure, then report it.
                    eof = true;
                    read_error = Some(ScanError::Read(e.to_string()));
                }
            }
        }
        let scanned = scan(&buf, &mut pos, eof, &mut mode, &mut seen_any, base, sink);
        if let Some(e) = read_error {
            return (base + buf.len() as u64, Some(e));
        }
        if let Err(e) = scanned {
            return (base + buf.len() as u64, Some(e));
        }
        if eof {
            let end = base + buf.len() as u64;
            if !seen_any {
                return (end, Some(ScanError::Empty));
            }
            return (end, None);
        }
        if pos > 0 {
            buf.drain(..pos);
            base += pos as u64;
            pos = 0;
        }
        if buf.len() > MAX_RECORD_BYTES + READ_CHUNK {
            return (base + buf.len() as u64, Some(ScanError::TooLarge(base)));
        }
    }
}

/// Appends up to one chunk from `reader` to `buf`; returns how many bytes were added.
fn fill<R: Read>(reader: &mut R, buf: &mut Vec<u8>) -> std::io::Result<usize> {
    let start = buf.len();
    buf.resize(start + READ_CHUNK, 0);
    let mut got = 0;
    while got < READ_CHUNK {
        match reader.read(&mut buf[start + got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => {
                buf.truncate(start + got);
                return Err(e);
            }
        }
    }
    buf.truncate(start + got);
    Ok(got)
}

/// Scans complete records in `buf[*pos..]`, advancing `pos` past what was consumed.
fn scan(
    buf: &[u8],
    pos: &mut usize,
    eof: bool,
    mode: &mut Mode,
    seen_any: &mut bool,
    base: u64,
    sink: &mut dyn FnMut(&[u8], Framing),
) -> Result<(), ScanError> {
    loop {
        let i = skip_ws_commas(buf, *pos, *mode != Mode::Start);
        *pos = i;
        if i >= buf.len() {
            return Ok(());
        }
        let c = buf[i];
        let off = base + i as u64;
        match *mode {
            Mode::Start => match c {
                b'[' => {
                    *seen_any = true;
                    *mode = Mode::TopArray;
                    *pos = i + 1;
                }
                b'{' => {
                    *seen_any = true;
                    match wrapper_prefix(buf, i) {
                        Prefix::Wrapper(after) => {
                            *mode = Mode::WrapperArray;
                            *pos = after;
                        }
                        Prefix::NeedMore if !eof => return Ok(()),
                        _ => match value_end(buf, i) {
                            Some(end) => {
                                sink(&buf[i..end], Framing::TopLevel);
                                *pos = end;
                            }
                            None if eof => return Err(ScanError::Truncated(off)),
                            None => return Ok(()),
                        },
                    }
                }
                _ => {
                    return Err(if *seen_any {
                        ScanError::Unexpected(off, c as char)
                    } else {
                        ScanError::NotJson(off, c as char)
                    });
                }
            },
            Mode::WrapperArray | Mode::TopArray => match c {
                b'{' => match value_end(buf, i) {
                    Some(end) => {
                        let framing = if *mode == Mode::TopArray {
                            Framing::ArrayElement
                        } else {
                            Framing::Wrapped
                        };
                        sink(&buf[i..end], framing);
                        *pos = end;
                    }
                    None if eof => return Err(ScanError::Truncated(off)),
                    None => return Ok(()),
                },
                b']' => {
                    *pos = i + 1;
                    *mode = if *mode == Mode::TopArray {
                        Mode::Start
                    } else {
                        Mode::WrapperTail
                    };
                }
                _ => return Err(ScanError::Unexpected(off, c as char)),
            },
            Mode::WrapperTail => {
                // Skip remaining members (e.g. "NextToken") up to the closing brace.
                match tail_end(buf, i) {
                    Some(end) => {
                        *pos = end;
                        *mode = Mode::Start;
                    }
                    None if eof => return Err(ScanError::Truncated(off)),
                    None => return Ok(()),
                }
            }
        }
    }
}

/// Skips JSON whitespace (and commas between elements when `commas`).
fn skip_ws_commas(buf: &[u8], mut i: usize, commas: bool) -> usize {
    while i < buf.len() {
        match buf[i] {
            b' ' | b'\n' | b'\r' | b'\t' => i += 1,
            b',' if commas => i += 1,
            0xEF if buf[i..].starts_with(&[0xEF, 0xBB, 0xBF]) => i += 3, // UTF-8 BOM
            _ => break,
        }
    }
    i
}

enum Prefix {
    Wrapper(usize),
    NeedMore,
    Other,
}

/// Recognizes `{ "Records" : [` or `{ "Events" : [` at `i`; returns the offset after `[`.
fn wrapper_prefix(buf: &[u8], i: usize) -> Prefix {
    let mut j = skip_ws_commas(buf, i + 1, false);
    for key in [&b"\"Records\""[..], &b"\"Events\""[..]] {
        let avail = &buf[j.min(buf.len())..];
        if avail.len() < key.len() {
            if key.starts_with(avail) {
                return Prefix::NeedMore;
            }
            continue;
        }
        if avail.starts_with(key) {
            j += key.len();
            j = skip_ws_commas(buf, j, false);
            if j >= buf.len() {
                return Prefix::NeedMore;
            }
            if buf[j] != b':' {
                return Prefix::Other;
            }
            j = skip_ws_commas(buf, j + 1, false);
            if j >= buf.len() {
                return Prefix::NeedMore;
            }
            return if buf[j] == b'[' {
                Prefix::Wrapper(j + 1)
            } else {
                Prefix::Other
            };
        }
    }
    Prefix::Other
}

/// Finds the end (exclusive) of the object or array starting at `i`, or None if incomplete.
pub fn value_end(buf: &[u8], i: usize) -> Option<usize> {
    let mut depth: usize = 0;
    let mut j = i;
    let n = buf.len();
    while j < n {
        match buf[j] {
            b'"' => {
                j += 1;
                loop {
                    let k = memchr::memchr2(b'"', b'\\', &buf[j..])?;
                    if buf[j + k] == b'\\' {
                        j += k + 2;
                        if j > n {
                            return None;
                        }
                    } else {
                        j += k;
                        break;
                    }
                }
            }
            b'{' | b'[' => depth += 1,
            b'}' | b']' => {
                depth = depth.saturating_sub(1);
                if depth == 0 {
                    return Some(j + 1);
                }
            }
            _ => {}
        }
        j += 1;
    }
    None
}

/// Finds the end of a wrapper object's remaining members, just past its closing brace.
fn tail_end(buf: &[u8], i: usize) -> Option<usize> {
    let mut j = i;
    while j < buf.len() {
        match buf[j] {
            b'}' => return Some(j + 1),
            b'"' => {
                let s = j + 1;
                let mut k = s;
                loop {
                    let m = memchr::memchr2(b'"', b'\\', &buf[k..])?;
                    if buf[k + m] == b'\\' {
                        k += m + 2;
                    } else {
                        k += m;
                        break;
                    }
                }
                j = k + 1;
            }
            b'{' | b'[' => j = value_end(buf, j)?,
            _ => j += 1,
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(input: &[u8]) -> (Vec<(String, Framing)>, Option<ScanError>) {
        let mut out = Vec::new();
        let (_, err) = split_records(input, &mut |b, f| {
            out.push((String::from_utf8_lossy(b).into_owned(), f))
        });
        (out, err)
    }

    #[test]
    fn splits_records_wrapper_with_tricky_strings() {
        let (recs, err) = split(br#"{"Records":[{"a":"}]{\"x"},{"b":[1,{"c":"\\"}]}]}"#);
        assert_eq!(err, None);
        assert_eq!(recs.len(), 2);
        assert_eq!(recs[0].0, r#"{"a":"}]{\"x"}"#);
        assert_eq!(recs[1].0, r#"{"b":[1,{"c":"\\"}]}"#);
        assert!(recs.iter().all(|r| r.1 == Framing::Wrapped));
    }

    #[test]
    fn splits_bare_arrays_and_ndjson() {
        let (recs, err) = split(b"[ {\"a\":1} , {\"b\":2} ]");
        assert_eq!((recs.len(), err), (2, None));
        assert_eq!(recs[0].1, Framing::ArrayElement);
        let (recs, err) = split(b"{\"a\":1}\n{\"b\":2}\n\n");
        assert_eq!((recs.len(), err), (2, None));
        assert_eq!(recs[1].1, Framing::TopLevel);
    }

    #[test]
    fn lookup_page_with_trailing_next_token_is_split() {
        let (recs, err) =
            split(br#"{"Events":[{"CloudTrailEvent":"{\"a\":1}"}],"NextToken":"abc}"}"#);
        assert_eq!((recs.len(), err), (1, None));
    }

    #[test]
    fn truncated_input_keeps_complete_records() {
        let (recs, err) = split(br#"{"Records":[{"a":1},{"b":2},{"c":"#);
        assert_eq!(recs.len(), 2);
        assert!(matches!(err, Some(ScanError::Truncated(_))));
    }

    #[test]
    fn empty_and_non_json_inputs_are_errors() {
        assert_eq!(split(b"  \n").1, Some(ScanError::Empty));
        assert!(matches!(
            split(b"hello").1,
            Some(ScanError::NotJson(0, 'h'))
        ));
    }

    #[test]
    fn records_spanning_read_chunks_are_reassembled() {
        let mut s = String::from("{\"Records\":[");
        for i in 0..5000 {
            if i > 0 {
                s.push(',');
            }
            s.push_str(&format!("{{\"i\":{i},\"pad\":\"{}\"}}", "x".repeat(700)));
        }
        s.push_str("]}");
        let (recs, err) = split(s.as_bytes());
        assert_eq!((recs.len(), err), (5000, None));
        assert!(recs[4999].0.starts_with("{\"i\":4999,"));
    }
}
