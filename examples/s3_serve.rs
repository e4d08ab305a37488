//! A local S3-compatible server (s3s + s3s-fs) over a folder, for the benchmark and for
//! trying the S3 source without AWS: each folder under ROOT is a bucket.
//!
//! `cargo run --release --example s3_serve -- ROOT [PORT] [--lean-get]` serves on 127.0.0.1
//! (default port 9000) with the access key `AKIAKEYTRAILBENCH001` and secret
//! `keytrail-bench-secret`; point keytrail at it with `AWS_ENDPOINT_URL_S3=http://127.0.0.1:PORT`
//! and `--force-path-style`.
//!
//! `--lean-get` answers GetObject itself: the whole file read in one blocking call and sent
//! as one body chunk, with an ETag made of its size and mtime. s3s-fs's own GetObject
//! computes the file's MD5 first and then streams it in 4 KiB reads, each a hop through
//! tokio's blocking pool, which on a small machine costs about as much CPU as keytrail's
//! whole scan. Everything else (signature checks, HeadBucket, listings) stays s3s + s3s-fs.
//!
//! The server runs on one thread and reads a `--lean-get` object on it (the files are small
//! and, in the benchmark, cached): on a 2-core machine, handing each request from thread to
//! thread cost it more CPU in context switches than the requests themselves, CPU the scan it
//! serves did not have.

use std::future::Future;
use std::path::{Component, Path, PathBuf};
use std::pin::Pin;

use hyper_util::rt::{TokioExecutor, TokioIo};
use s3s::auth::SimpleAuth;
use s3s::dto::{
    ETag, GetObjectInput, GetObjectOutput, HeadBucketInput, HeadBucketOutput, ListObjectsV2Input,
    ListObjectsV2Output, StreamingBlob, Timestamp,
};
use s3s::service::S3ServiceBuilder;
use s3s::{S3, S3Request, S3Response, S3Result, s3_error};

/// The credentials the server accepts.
const ACCESS_KEY: &str = "AKIAKEYTRAILBENCH001";
const SECRET_KEY: &str = "keytrail-bench-secret";

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let usage = "usage: s3_serve ROOT [PORT] [--lean-get]";
    let args: Vec<String> = std::env::args().skip(1).collect();
    let lean = args.iter().any(|a| a == "--lean-get");
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
        S3ServiceBuilder::new(LeanGet {
            fs,
            root: PathBuf::from(root),
        })
    } else {
        S3ServiceBuilder::new(fs)
    };
    b.set_auth(SimpleAuth::from_single(ACCESS_KEY, SECRET_KEY));
    let service = b.build();
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    let mode = if lean { " (lean GetObject)" } else { "" };
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

/// s3s-fs with a cheaper GetObject (see the file's doc).
struct LeanGet {
    fs: s3s_fs::FileSystem,
    root: PathBuf,
}

/// What an `S3` method returns (the trait is written with `async_trait`, spelled out here).
type Answer<'a, T> = Pin<Box<dyn Future<Output = S3Result<S3Response<T>>> + Send + 'a>>;

impl S3 for LeanGet {
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
        self.fs.list_objects_v2(req)
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
                    "s3_serve --lean-get serves whole objects"
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

/// `root/bucket/key`, refusing keys that would leave the bucket.
fn object_path(root: &Path, bucket: &str, key: &str) -> S3Result<PathBuf> {
    let rel = Path::new(key);
    if bucket.contains('/') || rel.components().any(|c| !matches!(c, Component::Normal(_))) {
        return Err(s3_error!(InvalidArgument, "bad bucket or key"));
    }
    Ok(root.join(bucket).join(rel))
}
