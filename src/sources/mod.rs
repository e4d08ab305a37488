//! Sources: where CloudTrail records come from. Local files, directories and stdin
//! (`local`), S3 buckets (`s3`) and the CloudTrail LookupEvents API (`lookup`), all feeding
//! the same pipeline; `gzip` inflates (multi-member, passing over corrupt members), `scanner`
//! splits streams into records and `prefilter` picks the ones worth parsing; `pool` hands
//! readers' buffers from one input to the next.

pub mod gzip;
pub mod local;
pub mod lookup;
pub mod parquet;
pub mod pool;
pub mod prefilter;
pub mod s3;
pub mod scanner;
pub mod shard;

use std::path::PathBuf;

use lookup::{LookupPlan, Regions};
use s3::layout::S3Url;

use crate::aws::AwsContext;
use crate::pipeline::{Assembler, IngestOptions};

/// One thing to read: a file or standard input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    File(PathBuf),
    Stdin,
}

impl Input {
    /// The name used in messages and in the `source` column.
    pub fn name(&self) -> String {
        match self {
            Input::File(p) => p.display().to_string(),
            Input::Stdin => "<stdin>".to_string(),
        }
    }
}

/// An input as named on the command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Spec {
    /// A file, a directory or `-`.
    Local(String),
    /// `s3://bucket[/prefix]`.
    S3(S3Url),
    /// `lookup:REGION[,REGION...]` or `lookup:all`.
    Lookup(Regions),
}

impl Spec {
    /// Parses one command-line input.
    pub fn parse(s: &str) -> Result<Spec, String> {
        if s.starts_with("s3://") {
            S3Url::parse(s).map(Spec::S3)
        } else if let Some(r) = s.strip_prefix("lookup:") {
            Regions::parse(r).map(Spec::Lookup)
        } else {
            Ok(Spec::Local(s.to_string()))
        }
    }

    /// Parses every command-line input; the first bad one is the error.
    pub fn parse_all(inputs: &[String]) -> Result<Vec<Spec>, String> {
        inputs.iter().map(|s| Spec::parse(s)).collect()
    }

    /// True for inputs read through AWS APIs.
    pub fn is_cloud(&self) -> bool {
        !matches!(self, Spec::Local(_))
    }
}

/// Reads the cloud inputs one after another into `asm`, calling `tick` per finished input.
pub async fn read_cloud(
    ctx: &AwsContext,
    specs: &[Spec],
    plan: &LookupPlan,
    opts: &IngestOptions,
    asm: &mut Assembler,
    tick: &(dyn Fn() + Send + Sync),
) {
    let before = ctx.calls.get();
    let mut counts = crate::pipeline::SourceCounts::default();
    for spec in specs {
        let mut sink = |o: crate::pipeline::InputOutcome| {
            if !o.rows_only() {
                tick();
            }
            asm.add(o)
        };
        let c = match spec {
            Spec::Local(_) => continue,
            Spec::S3(url) => s3::read(ctx, url, opts, None, &mut sink).await,
            Spec::Lookup(regions) => lookup::read(ctx, regions, plan, opts, None, &mut sink).await,
        };
        counts.merge(c);
    }
    counts.api_calls = ctx.calls.get() - before;
    asm.counts(counts);
}
