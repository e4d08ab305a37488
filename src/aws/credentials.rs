//! Credentials resolved once per run and shared by every call. Without this, calls that start
//! together (regions read at once, objects fetched at once) would each ask the provider
//! chain, so a refused `AssumeRole`, an expired SSO token or an unreachable instance-metadata
//! service would be asked, and waited for, once per call. A success is kept until five
//! minutes before it expires; a failure is kept for the run (it would fail alike again).

use std::error::Error;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use aws_credential_types::provider::error::CredentialsError;
use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider, future};
use tokio::sync::Mutex;

/// Credentials this close to expiry are fetched again.
const REFRESH_BEFORE: Duration = Duration::from_secs(300);

/// A provider that asks the one it wraps once, with concurrent callers waiting for that one
/// answer.
#[derive(Debug)]
pub struct SingleFlight {
    inner: SharedCredentialsProvider,
    last: Mutex<Option<Result<Credentials, Arc<CredentialsError>>>>,
}

impl SingleFlight {
    /// Wraps `inner`.
    pub fn new(inner: SharedCredentialsProvider) -> Self {
        SingleFlight {
            inner,
            last: Mutex::new(None),
        }
    }

    /// The kept answer, or a new one from the wrapped provider.
    async fn get(&self) -> Result<Credentials, CredentialsError> {
        let mut last = self.last.lock().await;
        match &*last {
            Some(Ok(c)) if !expiring(c) => return Ok(c.clone()),
            Some(Err(e)) => return Err(repeat(e)),
            _ => {}
        }
        let answer = self.inner.provide_credentials().await.map_err(Arc::new);
        *last = Some(answer.clone());
        answer.map_err(|e| repeat(&e))
    }
}

impl ProvideCredentials for SingleFlight {
    fn provide_credentials<'a>(&'a self) -> future::ProvideCredentials<'a>
    where
        Self: 'a,
    {
        future::ProvideCredentials::new(self.get())
    }
}

/// True when the credentials expire within [`REFRESH_BEFORE`].
fn expiring(c: &Credentials) -> bool {
    c.expiry()
        .is_some_and(|t| t <= SystemTime::now() + REFRESH_BEFORE)
}

/// The kept failure again, of the same kind (no credentials stays "not loaded").
fn repeat(e: &Arc<CredentialsError>) -> CredentialsError {
    let again = Kept(e.clone());
    match &**e {
        CredentialsError::CredentialsNotLoaded(_) => CredentialsError::not_loaded(again),
        _ => CredentialsError::provider_error(again),
    }
}

/// A kept failure, shown and chained as the original.
#[derive(Debug)]
struct Kept(Arc<CredentialsError>);

impl fmt::Display for Kept {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&*self.0, f)
    }
}

impl Error for Kept {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        Some(&*self.0)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    /// A provider that counts its calls and fails.
    #[derive(Debug, Default)]
    struct Failing(Arc<AtomicUsize>);

    impl ProvideCredentials for Failing {
        fn provide_credentials<'a>(&'a self) -> future::ProvideCredentials<'a>
        where
            Self: 'a,
        {
            self.0.fetch_add(1, Ordering::SeqCst);
            future::ProvideCredentials::ready(Err(CredentialsError::provider_error("refused")))
        }
    }

    #[tokio::test]
    async fn concurrent_callers_share_one_answer_and_a_failure_is_kept() {
        let calls = Arc::new(AtomicUsize::new(0));
        let p = Arc::new(SingleFlight::new(SharedCredentialsProvider::new(Failing(
            calls.clone(),
        ))));
        let tasks: Vec<_> = (0..8)
            .map(|_| {
                let p = p.clone();
                tokio::spawn(async move { p.provide_credentials().await })
            })
            .collect();
        for t in tasks {
            let e = t.await.unwrap().unwrap_err();
            assert!(matches!(e, CredentialsError::ProviderError(_)));
        }
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn good_credentials_are_kept_until_close_to_expiry() {
        let soon = Credentials::new(
            "AKIDEXAMPLE00000000A",
            "s",
            None,
            Some(SystemTime::now()),
            "t",
        );
        assert!(expiring(&soon));
        let later = Credentials::new(
            "AKIDEXAMPLE00000000A",
            "s",
            None,
            Some(SystemTime::now() + Duration::from_secs(3600)),
            "t",
        );
        assert!(!expiring(&later));
        let p = SingleFlight::new(SharedCredentialsProvider::new(later.clone()));
        assert_eq!(
            p.provide_credentials().await.unwrap().access_key_id(),
            later.access_key_id()
        );
    }
}
