//! AWS access shared by the cloud sources and `doctor`: configuration and credentials
//! (as the AWS CLI resolves them), calls with retries and status lines (`call`), error
//! messages that say what to do, the known regions, and rate limiting.

pub mod call;
pub mod config;
pub mod credentials;
pub mod errors;
pub mod ratelimit;
pub mod regions;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

pub use config::{AwsContext, Status, load_context};

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
