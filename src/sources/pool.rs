//! Memory handed from one reader to the next: the threads that read inputs (local files,
//! S3 objects) take a buffer when they start an input and give it back when done, so
//! buffers are not made, grown and zeroed again per input.

use std::sync::{Arc, Mutex};

/// Items a pool keeps at most (more readers than this at once make their own).
const POOL_MAX: usize = 16;

/// A shared stack of reusable `T`s; clones share the same items.
pub struct Pool<T>(Arc<Mutex<Vec<T>>>);

impl<T> Default for Pool<T> {
    fn default() -> Self {
        Pool(Arc::new(Mutex::new(Vec::new())))
    }
}

impl<T> Clone for Pool<T> {
    fn clone(&self) -> Self {
        Pool(self.0.clone())
    }
}

impl<T> std::fmt::Debug for Pool<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let held = self.0.lock().map_or(0, |v| v.len());
        write!(f, "Pool({held} held)")
    }
}

impl<T: Default> Pool<T> {
    /// An item from the pool, or a fresh one.
    pub fn take(&self) -> T {
        // A poisoned lock (a reader panicked) only means starting with a fresh item.
        self.0
            .lock()
            .ok()
            .and_then(|mut v| v.pop())
            .unwrap_or_default()
    }

    /// Keeps an item for the next reader, unless the pool is full.
    pub fn give(&self, item: T) {
        if let Ok(mut v) = self.0.lock()
            && v.len() < POOL_MAX
        {
            v.push(item);
        }
    }

    /// How many items the pool holds.
    pub fn len(&self) -> usize {
        self.0.lock().map_or(0, |v| v.len())
    }

    /// True when it holds none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
