//! AWS access shared by the cloud sources and `doctor`: configuration and credentials
//! (as the AWS CLI resolves them), error messages that say what to do, and rate limiting.

pub mod config;
pub mod errors;
pub mod ratelimit;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

pub use config::{AwsContext, load_context};

/// Counts AWS API calls across tasks (shown in the summary).
#[derive(Debug, Default, Clone)]
pub struct CallCounter(Arc<AtomicU64>);

impl CallCounter {
    /// Records one call.
    pub fn add(&self) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }

    /// Calls so far.
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}
