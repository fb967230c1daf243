//! Keeping the service responsive under load: a limit on requests in flight for everyone
//! (`MAX_CONCURRENT_REQUESTS`, over it → `503 overloaded`, shed at once rather than queued), a
//! smaller one per caller (`MAX_CONCURRENT_REQUESTS_PER_CLIENT`, over it → `429
//! too_many_concurrent_requests`) so one client cannot take every slot, and a time limit per
//! request (`REQUEST_TIMEOUT_MS`, over it → `504 request_timeout`), all as the contract's JSON.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use std::future::Future;

use axum::response::{IntoResponse, Response};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::auth::Caller;
use crate::api_error::ApiError;

/// The limits on requests in flight.
#[derive(Debug)]
pub struct ConcurrencyLimits {
    global: Arc<Semaphore>,
    per_caller: usize,
    in_flight: Arc<Mutex<HashMap<Caller, usize>>>,
}

/// Holds a caller's slot until the request is answered.
#[derive(Debug)]
pub struct Slot {
    _global: OwnedSemaphorePermit,
    caller: Caller,
    in_flight: Arc<Mutex<HashMap<Caller, usize>>>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        if let Ok(mut map) = self.in_flight.lock() {
            if let Some(n) = map.get_mut(&self.caller) {
                *n -= 1;
                if *n == 0 {
                    map.remove(&self.caller);
                }
            }
        }
    }
}

impl ConcurrencyLimits {
    /// At most `global` requests at once, `per_caller` of them from one caller.
    pub fn new(global: usize, per_caller: usize) -> Self {
        Self {
            global: Arc::new(Semaphore::new(global)),
            per_caller,
            in_flight: Arc::default(),
        }
    }

    /// Takes a slot for `caller`, or says which limit is reached.
    pub fn acquire(&self, caller: Caller) -> Result<Slot, ApiError> {
        let mut map = self.in_flight.lock().map_err(|_| ApiError::internal())?;
        if map.get(&caller).copied().unwrap_or(0) >= self.per_caller {
            return Err(ApiError::too_many_concurrent_requests());
        }
        let permit = Arc::clone(&self.global)
            .try_acquire_owned()
            .map_err(|_| ApiError::overloaded())?;
        *map.entry(caller).or_insert(0) += 1;
        drop(map);
        Ok(Slot {
            _global: permit,
            caller,
            in_flight: Arc::clone(&self.in_flight),
        })
    }
}

/// Runs `handler`, or answers `504 request_timeout` when it runs past `limit`
/// (`REQUEST_TIMEOUT_MS`).
pub async fn within(limit: Duration, handler: impl Future<Output = Response>) -> Response {
    match tokio::time::timeout(limit, handler).await {
        Ok(response) => response,
        Err(_) => {
            tracing::warn!(limit_ms = limit.as_millis() as u64, "request timed out");
            ApiError::request_timeout(limit.as_millis()).into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_caller_then_global_limits() {
        let limits = ConcurrencyLimits::new(3, 2);
        let a = Caller::Key(0);
        let b = Caller::Key(1);
        let c = Caller::Key(2);
        let a1 = limits.acquire(a).unwrap();
        let _a2 = limits.acquire(a).unwrap();
        assert_eq!(
            limits.acquire(a).unwrap_err().code(),
            "too_many_concurrent_requests"
        );
        let _b1 = limits.acquire(b).unwrap();
        assert_eq!(limits.acquire(c).unwrap_err().code(), "overloaded");
        drop(a1);
        assert!(limits.acquire(c).is_ok());
        assert!(limits.in_flight.lock().unwrap().get(&c).is_none());
    }
}
