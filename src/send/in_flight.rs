//! Sends under way, counted so that shutdown can wait for those whose caller has gone away.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;

/// How many sends are running; cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct InFlight {
    inner: Arc<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    running: AtomicUsize,
    idle: Notify,
}

/// Held by a running send; dropping it ends the send's count.
#[derive(Debug)]
pub struct Running(Arc<Inner>);

impl InFlight {
    /// Counts one more send until the returned guard is dropped.
    pub fn enter(&self) -> Running {
        self.inner.running.fetch_add(1, Ordering::SeqCst);
        Running(Arc::clone(&self.inner))
    }

    /// Sends running now.
    pub fn running(&self) -> usize {
        self.inner.running.load(Ordering::SeqCst)
    }

    /// Waits until no send is running, or `limit` has passed; `true` when none is left.
    pub async fn wait_idle(&self, limit: Duration) -> bool {
        let idle = async {
            loop {
                let notified = self.inner.idle.notified();
                if self.running() == 0 {
                    return;
                }
                notified.await;
            }
        };
        tokio::time::timeout(limit, idle).await.is_ok()
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if self.0.running.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.0.idle.notify_waiters();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn waits_for_the_last_send() {
        let in_flight = InFlight::default();
        assert!(in_flight.wait_idle(Duration::ZERO).await);
        let running = in_flight.enter();
        assert!(!in_flight.wait_idle(Duration::from_millis(10)).await);
        let waiter = {
            let in_flight = in_flight.clone();
            tokio::spawn(async move { in_flight.wait_idle(Duration::from_secs(5)).await })
        };
        tokio::time::sleep(Duration::from_millis(10)).await;
        drop(running);
        assert!(waiter.await.unwrap());
        assert_eq!(in_flight.running(), 0);
    }
}
