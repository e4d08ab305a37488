//! The whole read path from bytes: gzip detection, splitting, prefilter, JSON parsing,
//! LookupEvents unwrapping, normalization and classification (`read_stream`, no table). No
//! panic, no stack overflow, no hang, with and without `--all-events`.
#![no_main]

use std::io::Cursor;

use keytrail::pipeline::{IngestOptions, Keywords, read_stream};
use keytrail::sources::local::decode;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let all = IngestOptions {
        all_events: true,
        keep_raw: true,
        ..IngestOptions::default()
    };
    let investigation = IngestOptions {
        also_keep: Keywords::new(&["BedrockAPIKey-ab12".to_string(), "AKIAEXAMPLE".to_string()]),
        ..IngestOptions::default()
    };
    for opts in [&all, &IngestOptions::default(), &investigation] {
        let reader = decode(Box::new(Cursor::new(data.to_vec()))).expect("in-memory read");
        let outcome = read_stream("fuzz", reader, opts);
        let _ = (outcome.records(), outcome.problem());
    }
});
