//! Unit tests of the splitter: framing, recovery after bad records, limits, engines agreeing.

use super::*;

/// A piece with owned bytes, for comparing.
#[derive(Debug, Clone, PartialEq, Eq)]
enum P {
    Rec(String, Framing),
    Not(&'static str),
    Skip(u64, u64, SkipReason),
}

/// Splits `input` with every engine (read `chunk` bytes at a time), and once more through a
/// buffer left full of another input's bytes; checks they all agree, and returns the pieces
/// and the end.
fn split_chunked(input: &[u8], chunk: usize) -> (Vec<P>, SplitEnd) {
    let mut results = Vec::new();
    for (engine, reused) in [
        (Engine::Portable, false),
        (Engine::detect(), false),
        (Engine::detect(), true),
    ] {
        let mut out = Vec::new();
        // What a previous input leaves behind: brackets and quotes that must never be read.
        let mut buf = if reused {
            b"{\"[".repeat(100_000)
        } else {
            Vec::new()
        };
        let end = split_records_with_buf(Chunked(input, chunk), engine, &mut buf, &mut |p| {
            out.push(match p {
                Piece::Record { bytes, framing, .. } => {
                    P::Rec(String::from_utf8_lossy(bytes).into_owned(), framing)
                }
                Piece::NotObject { kind, .. } => P::Not(kind),
                Piece::Skipped {
                    offset,
                    len,
                    reason,
                    ..
                } => P::Skip(offset, len, reason),
            })
        });
        results.push((out, end));
    }
    assert_eq!(results[0], results[1], "engines disagree");
    assert_eq!(results[1], results[2], "a reused buffer changes the pieces");
    results.pop().unwrap()
}

fn split(input: &[u8]) -> (Vec<P>, SplitEnd) {
    let whole = split_chunked(input, usize::MAX);
    for chunk in [1, 7, 64, 65] {
        assert_eq!(split_chunked(input, chunk), whole, "chunk size {chunk}");
    }
    whole
}

/// A reader that returns at most `n` bytes per read.
struct Chunked<'a>(&'a [u8], usize);

impl Read for Chunked<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.0.len().min(buf.len()).min(self.1);
        buf[..n].copy_from_slice(&self.0[..n]);
        self.0 = &self.0[n..];
        Ok(n)
    }
}

fn records(pieces: &[P]) -> Vec<&str> {
    pieces
        .iter()
        .filter_map(|p| match p {
            P::Rec(s, _) => Some(s.as_str()),
            _ => None,
        })
        .collect()
}

fn skips(pieces: &[P]) -> usize {
    pieces.iter().filter(|p| matches!(p, P::Skip(..))).count()
}

/// A record with an id.
fn rec(i: usize) -> String {
    format!(
        r#"{{"eventVersion":"1.09","eventID":"id-{i}","eventName":"InvokeModel","requestParameters":{{"modelId":"m","list":[1,2,{{"a":"b"}}]}}}}"#
    )
}

#[test]
fn splits_records_wrapper_with_tricky_strings() {
    let (recs, end) = split(br#"{"Records":[{"a":"}]{\"x"},{"b":[1,{"c":"\\"}]}]}"#);
    assert_eq!(end.cut_short, None);
    assert_eq!(
        recs,
        vec![
            P::Rec(r#"{"a":"}]{\"x"}"#.into(), Framing::Wrapped),
            P::Rec(r#"{"b":[1,{"c":"\\"}]}"#.into(), Framing::Wrapped),
        ]
    );
}

#[test]
fn splits_bare_arrays_and_ndjson() {
    let (recs, end) = split(b"[ {\"a\":1} , {\"b\":2} ]");
    assert_eq!((recs.len(), end.cut_short), (2, None));
    assert_eq!(recs[0], P::Rec("{\"a\":1}".into(), Framing::ArrayElement));
    let (recs, end) = split(b"{\"a\":1}\n{\"b\":2}\n\n");
    assert_eq!((recs.len(), end.cut_short), (2, None));
    assert_eq!(recs[1], P::Rec("{\"b\":2}".into(), Framing::TopLevel));
}

#[test]
fn lookup_page_with_trailing_next_token_is_split() {
    let (recs, end) = split(br#"{"Events":[{"CloudTrailEvent":"{\"a\":1}"}],"NextToken":"abc}"}"#);
    assert_eq!((recs.len(), end.cut_short), (1, None));
}

#[test]
fn truncated_input_keeps_complete_records_and_reports_the_rest() {
    let (recs, end) = split(br#"{"Records":[{"a":1},{"b":2},{"c":"#);
    assert_eq!(records(&recs), vec![r#"{"a":1}"#, r#"{"b":2}"#]);
    assert_eq!(recs[2], P::Skip(28, 5, SkipReason::Truncated));
    assert_eq!(end.cut_short, None);
}

#[test]
fn an_array_that_never_closes_is_reported_after_its_records() {
    let (recs, _) = split(br#"{"Records":[{"a":1},{"b":2}"#);
    assert_eq!(records(&recs).len(), 2);
    assert_eq!(recs[2], P::Skip(27, 0, SkipReason::Truncated));
}

#[test]
fn empty_and_non_json_inputs_are_errors() {
    assert_eq!(split(b"  \n").1.cut_short, Some(ScanError::Empty));
    let (recs, end) = split(b"hello, world\n");
    assert!(recs.is_empty());
    assert_eq!(end.cut_short, Some(ScanError::NotJson(0, 'h')));
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
    let (recs, end) = split_chunked(s.as_bytes(), usize::MAX);
    assert_eq!((recs.len(), end.cut_short), (5000, None));
    assert!(records(&recs)[4999].starts_with("{\"i\":4999,"));
}

/// A named way to damage one record's text.
type Corruption = (&'static str, fn(&str) -> String);

/// The corruptions of issue 13, each applied to record 10 of 20.
fn corruptions() -> Vec<Corruption> {
    vec![
        ("unterminated string", |r| {
            r.replacen("\"InvokeModel\"", "\"InvokeModel", 1)
        }),
        ("missing closing brace", |r| r[..r.len() - 1].to_string()),
        ("extra closing brace", |r| format!("{r}}}")),
        ("truncated record", |r| r[..r.len() / 2].to_string()),
        ("stray quote", |r| r.replacen("Invoke", "Inv\"oke", 1)),
        ("unbalanced [", |r| r.replacen("[1,", "[[1,", 1)),
        ("extra ]", |r| r.replacen("[1,2,", "[1,2],", 1)),
        ("a number", |_| "12345".into()),
        ("a string", |_| "\"string\"".into()),
        ("null", |_| "null".into()),
        ("garbage bytes", |r| {
            r.replacen("\"m\"", "\"m\"\u{1}\u{7f}xx", 1)
        }),
        ("missing opening brace", |r| r[1..].to_string()),
        ("raw newline in a string", |r| {
            r.replacen("InvokeModel", "Invoke\nModel", 1)
        }),
    ]
}

#[test]
fn one_bad_record_costs_one_record_in_every_container() {
    for (name, corrupt) in corruptions() {
        let recs: Vec<String> = (0..20)
            .map(|i| if i == 10 { corrupt(&rec(i)) } else { rec(i) })
            .collect();
        let containers = [
            ("records", format!("{{\"Records\":[{}]}}", recs.join(","))),
            (
                "events",
                format!("{{\"Events\":[{}],\"NextToken\":\"t\"}}", recs.join(",")),
            ),
            ("bare array", format!("[{}]", recs.join(","))),
            ("pretty array", format!("[\n  {}\n]\n", recs.join(",\n  "))),
            ("ndjson", format!("{}\n", recs.join("\n"))),
        ];
        for (container, text) in containers {
            let (pieces, end) = split(text.as_bytes());
            let good: Vec<&str> = records(&pieces)
                .into_iter()
                .filter(|r| (0..20).any(|i| i != 10 && *r == rec(i)))
                .collect();
            assert_eq!(good.len(), 19, "{name} in {container}: {pieces:#?}");
            assert!(
                pieces.len() > good.len(),
                "{name} in {container}: nothing reported: {pieces:#?}"
            );
            assert_eq!(end.cut_short, None, "{name} in {container}");
        }
    }
}

#[test]
fn a_skipped_stretch_is_counted_in_bytes() {
    let text = format!("{}\n{{\"a\":\"oops\n{}\n", rec(1), rec(2));
    let (pieces, _) = split(text.as_bytes());
    assert_eq!(records(&pieces), vec![rec(1), rec(2)]);
    let start = rec(1).len() as u64 + 1;
    assert!(
        matches!(&pieces[1], P::Skip(o, l, SkipReason::Syntax { .. }) if *o == start && *l == 11),
        "{pieces:?}"
    );
}

#[test]
fn deep_nesting_is_skipped_without_recursion() {
    let deep = format!(
        "{{\"a\":{}{{}}{}}}",
        "[".repeat(100_000),
        "]".repeat(100_000)
    );
    let text = format!("{{\"Records\":[{},{deep},{}]}}", rec(1), rec(2));
    let (pieces, end) = split_chunked(text.as_bytes(), usize::MAX);
    assert_eq!(records(&pieces), vec![rec(1), rec(2)]);
    assert!(pieces.contains(&P::Skip(
        12 + rec(1).len() as u64 + 1,
        deep.len() as u64,
        SkipReason::TooDeep
    )));
    assert_eq!(end.cut_short, None);
    let at_limit = format!(
        "{{\"a\":{}1{}}}",
        "[".repeat(MAX_DEPTH as usize - 1),
        "]".repeat(MAX_DEPTH as usize - 1)
    );
    let (pieces, _) = split_chunked(at_limit.as_bytes(), usize::MAX);
    assert_eq!(records(&pieces).len(), 1, "{MAX_DEPTH} levels are allowed");
}

#[test]
fn an_unclosed_deep_record_costs_only_itself() {
    let text = format!("{}\n{{\"a\":{}\n{}\n", rec(1), "[".repeat(100_000), rec(2));
    let (pieces, _) = split_chunked(text.as_bytes(), 4096);
    assert_eq!(records(&pieces), vec![rec(1), rec(2)]);
    assert_eq!(skips(&pieces), 1);
}

#[test]
fn non_objects_are_reported_as_such() {
    let (pieces, end) = split(br#"{"Records":[{"a":1},12345,"s",null,true,[1,{"b":2}],{"c":3}]}"#);
    assert_eq!(
        pieces,
        vec![
            P::Rec(r#"{"a":1}"#.into(), Framing::Wrapped),
            P::Not("a number"),
            P::Not("a string"),
            P::Not("null"),
            P::Not("a boolean"),
            P::Not("an array"),
            P::Rec(r#"{"c":3}"#.into(), Framing::Wrapped),
        ]
    );
    assert_eq!(end.cut_short, None);
}

#[test]
fn a_huge_record_is_skipped_and_the_next_one_read() {
    let huge = format!("{{\"a\":\"{}\"}}", "x".repeat(MAX_RECORD_BYTES + 10));
    let text = format!("{{\"Records\":[{},{huge},{}]}}", rec(1), rec(2));
    let (pieces, _) = split_chunked(text.as_bytes(), usize::MAX);
    assert_eq!(records(&pieces), vec![rec(1), rec(2)]);
    assert!(
        matches!(pieces[1], P::Skip(_, _, SkipReason::TooLarge)),
        "{pieces:?}"
    );
}

#[test]
fn decoder_gaps_skip_the_record_they_cut() {
    /// Returns the parts with a gap between each.
    struct Gapped(Vec<Vec<u8>>, bool);
    impl Read for Gapped {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            if self.0.is_empty() {
                return Ok(0);
            }
            if self.1 {
                self.1 = false;
                return Err(Gap {
                    lost: 100,
                    reason: "corrupt member".into(),
                }
                .into_io());
            }
            let part = &mut self.0[0];
            let n = part.len().min(buf.len());
            buf[..n].copy_from_slice(&part[..n]);
            part.drain(..n);
            if part.is_empty() {
                self.0.remove(0);
                self.1 = !self.0.is_empty();
            }
            Ok(n)
        }
    }
    let parts = vec![
        format!("{{\"Records\":[{},{}", rec(1), &rec(2)[..30]).into_bytes(),
        format!(",{},{}]}}", rec(3), rec(4)).into_bytes(),
    ];
    let mut pieces = Vec::new();
    let end = split_records(Gapped(parts, false), &mut |p| {
        pieces.push(match p {
            Piece::Record { bytes, .. } => String::from_utf8_lossy(bytes).into_owned(),
            Piece::Skipped {
                len, lost, reason, ..
            } => format!("skip {len} {lost} {reason}"),
            Piece::NotObject { .. } => "not".into(),
        })
    });
    assert_eq!(end.cut_short, None);
    assert_eq!(
        pieces,
        vec![rec(1), "skip 31 100 corrupt member".into(), rec(3), rec(4)]
    );
}

#[test]
fn hostile_resync_input_finishes() {
    // Every `,{"` is a candidate that never closes: the rescans are bounded.
    let mut text = String::from("{\"Records\":[{\"a\":[");
    for _ in 0..200_000 {
        text.push_str(",{\"c\":[");
    }
    let (pieces, _) = split_chunked(text.as_bytes(), usize::MAX);
    assert!(records(&pieces).is_empty());
    assert_eq!(skips(&pieces), 1);
}

#[test]
fn depth_check_for_unsplit_text() {
    assert!(!nests_deeper_than(br#"{"a":[[["]]]]]]]]"]]]}"#, 4));
    assert!(nests_deeper_than(&"[".repeat(600).into_bytes(), 512));
}
