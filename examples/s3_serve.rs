//! A local S3-compatible server (s3s + s3s-fs) over a folder, for the benchmark and for
//! trying the S3 source without AWS: each folder under ROOT is a bucket.
//!
//! `cargo run --release --example s3_serve -- ROOT [PORT] [--lean]` serves on 127.0.0.1
//! (default port 9000) with the access key `AKIAKEYTRAILBENCH001` and secret
//! `keytrail-bench-secret`; point keytrail at it with `AWS_ENDPOINT_URL_S3=http://127.0.0.1:PORT`
//! and `--force-path-style`.
//!
//! `--lean` answers GetObject and ListObjectsV2 itself; signature checks and HeadBucket stay
//! s3s + s3s-fs.
//! - GetObject: the whole file read in one call and sent as one body chunk, with an ETag made
//!   of its size and mtime. s3s-fs's own computes the file's MD5 first and then streams it in
//!   4 KiB reads, each a hop through tokio's blocking pool, which on a small machine cost
//!   about as much CPU as keytrail's whole scan.
//! - ListObjectsV2: only the folder the prefix names is read (and, without a delimiter, the
//!   folders below it). s3s-fs walks the whole bucket for every page, with a hop through the
//!   blocking pool for each entry: with a scan listing every folder of a 2,300-file corpus,
//!   those hops were the larger part of the server's CPU.
//!
//! The server runs on one thread and does `--lean` reads on it (the files are small and, in
//! the benchmark, cached): on a 2-core machine, handing each request from thread to thread
//! cost it more CPU in context switches than the requests themselves, CPU the scan it serves
//! did not have.

use std::future::Future;
use std::path::{Component, Path, PathBuf};
use std::pin::Pin;

use hyper_util::rt::{TokioExecutor, TokioIo};
use s3s::auth::SimpleAuth;
use s3s::dto::{
    CommonPrefix, ETag, GetObjectInput, GetObjectOutput, HeadBucketInput, HeadBucketOutput,
    ListObjectsV2Input, ListObjectsV2Output, Object, StreamingBlob, Timestamp,
};
use s3s::service::S3ServiceBuilder;
use s3s::{S3, S3Request, S3Response, S3Result, s3_error};

/// The credentials the server accepts.
const ACCESS_KEY: &str = "AKIAKEYTRAILBENCH001";
const SECRET_KEY: &str = "keytrail-bench-secret";

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let usage = "usage: s3_serve ROOT [PORT] [--lean]";
    let args: Vec<String> = std::env::args().skip(1).collect();
    let lean = args.iter().any(|a| a == "--lean");
    let mut positional = args.iter().filter(|a| !a.starts_with("--"));
    let root = positional.next().ok_or_else(|| anyhow::anyhow!(usage))?;
    let port: u16 = positional
        .next()
        .map(|p| p.parse())
        .transpose()?
        .unwrap_or(9000);
    let fs =
        s3s_fs::FileSystem::new(root).map_err(|e| anyhow::anyhow!("cannot serve {root}: {e:?}"))?;
    let mut b = if lean {
        S3ServiceBuilder::new(Lean {
            fs,
            root: PathBuf::from(root),
        })
    } else {
        S3ServiceBuilder::new(fs)
    };
    b.set_auth(SimpleAuth::from_single(ACCESS_KEY, SECRET_KEY));
    let service = b.build();
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    let mode = if lean {
        " (lean GetObject and listings)"
    } else {
        ""
    };
    eprintln!("s3_serve: serving {root} on http://127.0.0.1:{port}{mode}");
    loop {
        let (stream, _) = listener.accept().await?;
        // Without this, Nagle's algorithm and the client's delayed ACKs hold the last small
        // segment of each response for up to 40 ms.
        stream.set_nodelay(true)?;
        let svc = service.clone();
        tokio::spawn(async move {
            let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                .serve_connection(TokioIo::new(stream), svc)
                .await;
        });
    }
}

/// s3s-fs with a cheaper GetObject and ListObjectsV2 (see the file's doc).
struct Lean {
    fs: s3s_fs::FileSystem,
    root: PathBuf,
}

/// What an `S3` method returns (the trait is written with `async_trait`, spelled out here).
type Answer<'a, T> = Pin<Box<dyn Future<Output = S3Result<S3Response<T>>> + Send + 'a>>;

impl S3 for Lean {
    fn head_bucket<'a, 'b>(
        &'a self,
        req: S3Request<HeadBucketInput>,
    ) -> Answer<'b, HeadBucketOutput>
    where
        'a: 'b,
        Self: 'b,
    {
        self.fs.head_bucket(req)
    }

    fn list_objects_v2<'a, 'b>(
        &'a self,
        req: S3Request<ListObjectsV2Input>,
    ) -> Answer<'b, ListObjectsV2Output>
    where
        'a: 'b,
        Self: 'b,
    {
        Box::pin(async move {
            let input = req.input;
            // GetObject's check: no bucket, and no folder of the prefix, outside the root.
            object_path(&self.root, &input.bucket, folder_of(&input))?;
            let listing = list(&self.root, &input).map_err(|e| match e.kind() {
                std::io::ErrorKind::NotFound => s3_error!(NoSuchBucket),
                _ => s3_error!(InternalError, "cannot list: {e}"),
            })?;
            Ok(S3Response::new(listing))
        })
    }

    fn get_object<'a, 'b>(&'a self, req: S3Request<GetObjectInput>) -> Answer<'b, GetObjectOutput>
    where
        'a: 'b,
        Self: 'b,
    {
        Box::pin(async move {
            let input = req.input;
            if input.range.is_some() {
                return Err(s3_error!(
                    NotImplemented,
                    "s3_serve --lean serves whole objects"
                ));
            }
            let path = object_path(&self.root, &input.bucket, &input.key)?;
            let read = || {
                let modified = std::fs::metadata(&path)?.modified()?;
                Ok::<_, std::io::Error>((std::fs::read(&path)?, modified))
            };
            let (data, modified) = read().map_err(|_| s3_error!(NoSuchKey))?;
            let since_epoch = modified
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap_or_default();
            let len = data.len();
            Ok(S3Response::new(GetObjectOutput {
                content_length: Some(len as i64),
                e_tag: Some(ETag::Strong(format!(
                    "{len:x}-{:x}",
                    since_epoch.as_nanos()
                ))),
                last_modified: Some(Timestamp::from(modified)),
                body: Some(StreamingBlob::from(s3s::Body::from(data))),
                ..Default::default()
            }))
        })
    }
}

/// `root/bucket/key`, refusing a bucket that is not one folder name (`..` included) and keys
/// that would leave the bucket.
fn object_path(root: &Path, bucket: &str, key: &str) -> S3Result<PathBuf> {
    let rel = Path::new(key);
    let mut folders = Path::new(bucket).components();
    let one_folder = matches!(
        (folders.next(), folders.next()),
        (Some(Component::Normal(_)), None)
    );
    if !one_folder || rel.components().any(|c| !matches!(c, Component::Normal(_))) {
        return Err(s3_error!(InvalidArgument, "bad bucket or key"));
    }
    Ok(root.join(bucket).join(rel))
}

/// The folder a listing's prefix names: the prefix up to its last '/' (a key's folders are
/// its '/' parts).
fn folder_of(input: &ListObjectsV2Input) -> &str {
    let prefix = input.prefix.as_deref().unwrap_or("");
    &prefix[..prefix.rfind('/').map_or(0, |i| i + 1)]
}

/// One ListObjectsV2 page, read from the folders with blocking calls (see the file's doc).
/// Keys and common prefixes are merged in key order; a page ends after `max_keys` of them,
/// its continuation token being the last one.
///
/// The bucket and prefix must have passed [`object_path`]; a delimiter other than '/' is not
/// supported (keytrail lists folders with '/').
fn list(root: &Path, input: &ListObjectsV2Input) -> std::io::Result<ListObjectsV2Output> {
    let bucket = root.join(&input.bucket);
    std::fs::metadata(&bucket)?;
    let prefix = input.prefix.as_deref().unwrap_or("");
    let delimiter = input.delimiter.as_deref();
    let mut entries: Vec<(String, Option<std::fs::Metadata>)> = Vec::new();
    let mut pending = vec![folder_of(input).to_string()];
    while let Some(dir) = pending.pop() {
        let read = match std::fs::read_dir(bucket.join(&dir)) {
            Ok(r) => r,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        };
        for entry in read {
            let entry = entry?;
            let Ok(name) = entry.file_name().into_string() else {
                continue;
            };
            let key = format!("{dir}{name}");
            if !key.starts_with(prefix) {
                continue;
            }
            let is_dir = entry.file_type()?.is_dir();
            match (is_dir, delimiter) {
                (true, Some("/")) => entries.push((format!("{key}/"), None)),
                (true, _) => pending.push(format!("{key}/")),
                (false, _) => entries.push((key, Some(entry.metadata()?))),
            }
        }
    }
    entries.sort_by(|a, b| a.0.cmp(&b.0));
    let marker = [
        input.continuation_token.as_deref(),
        input.start_after.as_deref(),
    ]
    .into_iter()
    .flatten()
    .max();
    if let Some(m) = marker {
        entries.retain(|(k, _)| k.as_str() > m);
    }
    let max = usize::try_from(input.max_keys.unwrap_or(1000)).unwrap_or(1000);
    let truncated = entries.len() > max;
    entries.truncate(max);
    let next = truncated
        .then(|| entries.last().map(|(k, _)| k.clone()))
        .flatten();
    let key_count = i32::try_from(entries.len()).unwrap_or(i32::MAX);
    let (mut objects, mut prefixes) = (Vec::new(), Vec::new());
    for (key, meta) in entries {
        match meta {
            Some(m) => objects.push(Object {
                key: Some(key),
                last_modified: Some(Timestamp::from(m.modified()?)),
                size: Some(i64::try_from(m.len()).unwrap_or(i64::MAX)),
                ..Default::default()
            }),
            None => prefixes.push(CommonPrefix { prefix: Some(key) }),
        }
    }
    Ok(ListObjectsV2Output {
        key_count: Some(key_count),
        max_keys: input.max_keys,
        is_truncated: Some(truncated),
        contents: (!objects.is_empty()).then_some(objects),
        common_prefixes: (!prefixes.is_empty()).then_some(prefixes),
        continuation_token: input.continuation_token.clone(),
        next_continuation_token: next,
        delimiter: input.delimiter.clone(),
        name: Some(input.bucket.clone()),
        prefix: input.prefix.clone(),
        start_after: input.start_after.clone(),
        ..Default::default()
    })
}
