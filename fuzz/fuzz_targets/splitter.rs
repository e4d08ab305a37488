//! The record splitter and the prefilter on arbitrary bytes: no panic, no hang; both
//! classification engines and every read size give the same pieces; pieces come in order and
//! do not overlap; a valid JSON document is split without anything skipped; the prefilter
//! agrees with a plain search.
#![no_main]

use std::io::Read;

use keytrail::sources::prefilter::Prefilter;
use keytrail::sources::scanner::{Engine, Piece, ScanError, split_records_with};
use keytrail::transforms::classify::RELEVANT_KEYWORDS;
use libfuzzer_sys::fuzz_target;

/// A piece with owned bytes.
#[derive(Debug, PartialEq, Eq)]
enum P {
    Rec(u64, Vec<u8>),
    Not(u64, u64),
    Skip(u64, u64, u64, String),
}

/// Returns at most `n` bytes per read.
struct Chunked<'a>(&'a [u8], usize);

impl Read for Chunked<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.0.len().min(buf.len()).min(self.1);
        buf[..n].copy_from_slice(&self.0[..n]);
        self.0 = &self.0[n..];
        Ok(n)
    }
}

fn split(input: &[u8], chunk: usize, engine: Engine) -> (Vec<P>, u64, Option<ScanError>) {
    let mut out = Vec::new();
    let end = split_records_with(Chunked(input, chunk), engine, &mut |p| {
        out.push(match p {
            Piece::Record { bytes, offset, .. } => P::Rec(offset, bytes.to_vec()),
            Piece::NotObject { offset, len, .. } => P::Not(offset, len),
            Piece::Skipped {
                offset,
                len,
                lost,
                reason,
            } => P::Skip(offset, len, lost, reason.to_string()),
        })
    });
    (out, end.bytes_read, end.cut_short)
}

fuzz_target!(|data: &[u8]| {
    let Some((&c, input)) = data.split_first() else {
        return;
    };
    let whole = split(input, usize::MAX, Engine::Portable);
    assert_eq!(whole.1, input.len() as u64);
    let chunk = 1 + c as usize * 37;
    assert_eq!(split(input, chunk, Engine::Portable), whole, "read size {chunk}");
    assert_eq!(split(input, usize::MAX, Engine::detect()), whole, "engines");

    // In order, without overlap, within the input; records are objects.
    let mut at = 0u64;
    for p in &whole.0 {
        let (o, l) = match p {
            P::Rec(o, b) => {
                assert_eq!((b.first(), b.last()), (Some(&b'{'), Some(&b'}')));
                assert_eq!(&input[*o as usize..*o as usize + b.len()], &b[..]);
                (*o, b.len() as u64)
            }
            P::Not(o, l) => (*o, *l),
            P::Skip(o, l, _, _) => (*o, *l),
        };
        assert!(o >= at, "pieces overlap: {:?}", whole.0);
        assert!(o + l <= input.len() as u64);
        at = o + l;
    }

    // A valid document (object or array at the top) loses nothing.
    let top = input.iter().find(|b| !b" \t\r\n".contains(b));
    if matches!(top, Some(b'{') | Some(b'['))
        && serde_json::from_slice::<serde_json::Value>(input).is_ok()
    {
        assert!(
            !whole.0.iter().any(|p| matches!(p, P::Skip(..))) && whole.2.is_none(),
            "valid JSON not split cleanly: {:?}",
            whole
        );
    }

    // The prefilter: engines agree, and agree with a plain search.
    let pre = [
        Prefilter::with_engine(RELEVANT_KEYWORDS, true, Engine::Portable),
        Prefilter::with_engine(RELEVANT_KEYWORDS, true, Engine::detect()),
    ];
    let mut hays: Vec<&[u8]> = vec![input];
    hays.extend(whole.0.iter().filter_map(|p| match p {
        P::Rec(_, b) => Some(&b[..]),
        _ => None,
    }));
    for h in hays {
        let lower = h.to_ascii_lowercase();
        let want = memchr::memmem::find(h, b"\\u").is_some()
            || RELEVANT_KEYWORDS
                .iter()
                .any(|w| memchr::memmem::find(&lower, w.as_bytes()).is_some());
        assert_eq!(pre[0].is_candidate(h), want);
        assert_eq!(pre[1].is_candidate(h), want);
    }
});
