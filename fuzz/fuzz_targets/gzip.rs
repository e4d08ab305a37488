//! The gzip reader on arbitrary bytes and on corrupted multi-member streams: no panic, no
//! hang; on a stream flate2 reads cleanly it gives the same bytes and no gap; members around a
//! corrupt one are read whole.
#![no_main]

use std::io::{Read, Write};

use flate2::Compression;
use flate2::write::GzEncoder;
use keytrail::sources::gzip::GzipReader;
use keytrail::sources::scanner::Gap;
use libfuzzer_sys::fuzz_target;

/// Inflated output is capped (a small input can inflate to gigabytes).
const CAP: usize = 16 << 20;

/// Reads everything: the bytes and the gap reasons.
fn read_all(input: &[u8]) -> (Vec<u8>, Vec<String>) {
    let mut r = GzipReader::new(input);
    let (mut out, mut gaps) = (Vec::new(), Vec::new());
    let mut buf = vec![0; 64 * 1024];
    while out.len() < CAP {
        match r.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e) => gaps.push(Gap::from_io(&e).expect("only gaps").reason.clone()),
        }
        assert!(gaps.len() <= input.len() + 1, "more gaps than bytes");
    }
    (out, gaps)
}

fn gz(data: &[u8]) -> Vec<u8> {
    let mut e = GzEncoder::new(Vec::new(), Compression::fast());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

fuzz_target!(|data: &[u8]| {
    // Arbitrary bytes, with the gzip magic in front when they lack it (the reader is only used
    // on input that starts with it).
    let raw = if data.starts_with(&[0x1f, 0x8b]) {
        data.to_vec()
    } else {
        [&[0x1f, 0x8b, 0x08][..], data].concat()
    };
    let (out, gaps) = read_all(&raw);
    let mut theirs = Vec::new();
    let clean = flate2::read::MultiGzDecoder::new(&raw[..])
        .take(CAP as u64)
        .read_to_end(&mut theirs)
        .is_ok();
    if clean && theirs.len() < CAP {
        assert_eq!((out.len(), gaps.len()), (theirs.len(), 0), "{gaps:?}");
        assert_eq!(out, theirs);
    }

    // Three members; one byte of the middle one changed.
    if data.len() < 4 {
        return;
    }
    let (ctl, rest) = data.split_at(3);
    let a = rest.len() / 3;
    let parts = [&rest[..a], &rest[a..2 * a], &rest[2 * a..]];
    let members: Vec<Vec<u8>> = parts.iter().map(|p| gz(p)).collect();
    let mut stream = members.concat();
    let m2 = members[0].len() + (ctl[0] as usize * 256 + ctl[1] as usize) % members[1].len();
    stream[m2] ^= ctl[2] | 1;
    let (out, _) = read_all(&stream);
    assert!(out.starts_with(parts[0]), "first member lost");
    assert!(out.ends_with(parts[2]), "last member lost");
});
