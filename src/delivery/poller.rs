//! The poll loop the delivery workers (`worker.rs`) and the caller-event queue (`callbacks.rs`)
//! share: claim work from the store, handle each claimed item in a task of its own with bounded
//! concurrency, sleep when there is nothing to do or the store failed, and stop on the watch
//! channel.

use std::fmt::Display;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{watch, Notify, Semaphore};
use tokio::task::JoinSet;

/// What happens to the items still being handled when the stop signal comes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnStop {
    /// [`Poller::run`] returns once every one of them has finished (the caller bounds how long).
    Drain,
    /// They are cancelled and [`Poller::run`] returns at once.
    Abort,
}

/// How a poll loop runs.
#[derive(Debug, Clone)]
pub struct Poller {
    /// What is claimed, for the log line of a failed claim ("could not claim {what}").
    pub what: &'static str,
    /// Items handled at once; a claim asks for at most the free places.
    pub concurrency: usize,
    /// The pause after a claim that found nothing.
    pub poll: Duration,
    /// The pause after a claim that failed.
    pub error_backoff: Duration,
    /// Ends an idle pause early (new work was stored).
    pub wake: Option<Arc<Notify>>,
    /// Whether items in hand finish or are cancelled on stop.
    pub on_stop: OnStop,
}

impl Poller {
    /// Runs until `stop` turns true. `claim(limit)` takes up to `limit` items from the store;
    /// `handle(item, stop)` handles one, in a task of its own (it may watch `stop` itself).
    pub async fn run<T, E, C, CF, H, HF>(
        self,
        mut claim: C,
        handle: H,
        mut stop: watch::Receiver<bool>,
    ) where
        C: FnMut(u32) -> CF,
        CF: Future<Output = Result<Vec<T>, E>>,
        E: Display,
        H: Fn(T, watch::Receiver<bool>) -> HF,
        HF: Future<Output = ()> + Send + 'static,
    {
        let places = Arc::new(Semaphore::new(self.concurrency.max(1)));
        let mut tasks = JoinSet::new();
        while !*stop.borrow() {
            while tasks.try_join_next().is_some() {}
            let free = places.available_permits();
            if free == 0 {
                tokio::select! {
                    _ = tasks.join_next() => {}
                    _ = stop.changed() => {}
                }
                continue;
            }
            let claimed = match claim(u32::try_from(free).unwrap_or(u32::MAX)).await {
                Ok(claimed) => claimed,
                Err(e) => {
                    tracing::warn!(error = %e, "could not claim {}", self.what);
                    sleep_or_stop(self.error_backoff, &mut stop).await;
                    continue;
                }
            };
            if claimed.is_empty() {
                let woken = async {
                    match &self.wake {
                        Some(wake) => wake.notified().await,
                        None => std::future::pending().await,
                    }
                };
                tokio::select! {
                    () = tokio::time::sleep(self.poll) => {}
                    () = woken => {}
                    _ = stop.changed() => {}
                }
                continue;
            }
            for item in claimed {
                let Ok(place) = places.clone().acquire_owned().await else {
                    break;
                };
                let handled = handle(item, stop.clone());
                tasks.spawn(async move {
                    handled.await;
                    drop(place);
                });
            }
        }
        match self.on_stop {
            OnStop::Drain => while tasks.join_next().await.is_some() {},
            OnStop::Abort => tasks.abort_all(),
        }
    }
}

async fn sleep_or_stop(pause: Duration, stop: &mut watch::Receiver<bool>) {
    tokio::select! {
        () = tokio::time::sleep(pause) => {}
        _ = stop.changed() => {}
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Mutex;

    use tokio::time::Instant;

    use super::*;

    fn poller(concurrency: usize, poll: Duration, error_backoff: Duration) -> Poller {
        Poller {
            what: "test items",
            concurrency,
            poll,
            error_backoff,
            wake: None,
            on_stop: OnStop::Drain,
        }
    }

    /// Items shared between a test and its claim or handle closures.
    type Shared = Arc<Mutex<Vec<u32>>>;

    fn shared(items: Vec<u32>) -> Shared {
        Arc::new(Mutex::new(items))
    }

    #[tokio::test]
    async fn processes_every_claimed_item_within_its_concurrency() {
        let (items, limits, done) = (shared((0..20).collect()), shared(vec![]), shared(vec![]));
        let (in_flight, most) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let (stop_tx, stop) = watch::channel(false);
        let claim = {
            let (items, limits) = (items.clone(), limits.clone());
            move |limit: u32| {
                let (items, limits) = (items.clone(), limits.clone());
                async move {
                    limits.lock().unwrap().push(limit);
                    let mut items = items.lock().unwrap();
                    let n = items.len().min(limit as usize);
                    Ok::<_, String>(items.drain(..n).collect::<Vec<_>>())
                }
            }
        };
        let handle = {
            let (done, in_flight, most) = (done.clone(), in_flight.clone(), most.clone());
            move |item: u32, _stop| {
                let (done, in_flight, most) = (done.clone(), in_flight.clone(), most.clone());
                async move {
                    let now = in_flight.fetch_add(1, Ordering::SeqCst) + 1;
                    most.fetch_max(now, Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_millis(5)).await;
                    in_flight.fetch_sub(1, Ordering::SeqCst);
                    done.lock().unwrap().push(item);
                }
            }
        };
        let run = tokio::spawn(
            poller(3, Duration::from_millis(5), Duration::from_secs(1)).run(claim, handle, stop),
        );
        let started = Instant::now();
        while done.lock().unwrap().len() < 20 {
            assert!(
                started.elapsed() < Duration::from_secs(5),
                "not all handled"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        stop_tx.send(true).unwrap();
        run.await.unwrap();
        let mut done = done.lock().unwrap().clone();
        done.sort_unstable();
        assert_eq!(done, (0..20).collect::<Vec<_>>(), "each item once");
        assert!(most.load(Ordering::SeqCst) <= 3, "at most 3 at once");
        assert!(limits.lock().unwrap().iter().all(|&l| (1..=3).contains(&l)));
    }

    #[tokio::test]
    async fn a_failing_claim_is_retried_after_the_backoff_not_the_poll() {
        let claims = Arc::new(AtomicUsize::new(0));
        let (stop_tx, stop) = watch::channel(false);
        let claim = {
            let claims = claims.clone();
            move |_limit: u32| {
                claims.fetch_add(1, Ordering::SeqCst);
                async { Err::<Vec<u32>, _>("the store is down") }
            }
        };
        let run = tokio::spawn(
            poller(4, Duration::from_millis(1), Duration::from_millis(200)).run(
                claim,
                |_item: u32, _stop| async {},
                stop,
            ),
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
        stop_tx.send(true).unwrap();
        run.await.unwrap();
        // At 0, 200 and 400 ms (and perhaps once more on a slow machine); with the 1 ms poll
        // instead it would be hundreds.
        let claims = claims.load(Ordering::SeqCst);
        assert!((2..=4).contains(&claims), "{claims} claims in 500 ms");
    }

    #[tokio::test]
    async fn stops_promptly_when_idle_or_backing_off() {
        for failing in [false, true] {
            let (stop_tx, stop) = watch::channel(false);
            let claim = move |_limit: u32| async move {
                if failing {
                    Err("the store is down")
                } else {
                    Ok(Vec::<u32>::new())
                }
            };
            let hour = Duration::from_secs(3600);
            let run = tokio::spawn(poller(1, hour, hour).run(claim, |_, _| async {}, stop));
            tokio::time::sleep(Duration::from_millis(20)).await;
            let stopping = Instant::now();
            stop_tx.send(true).unwrap();
            tokio::time::timeout(Duration::from_secs(1), run)
                .await
                .expect("stopped within a second")
                .unwrap();
            assert!(
                stopping.elapsed() < Duration::from_secs(1),
                "failing: {failing}"
            );
        }
    }

    #[tokio::test]
    async fn a_wake_ends_the_idle_pause() {
        let wake = Arc::new(Notify::new());
        let items = shared(Vec::new());
        let done = Arc::new(AtomicUsize::new(0));
        let (stop_tx, stop) = watch::channel(false);
        let claim = {
            let items = items.clone();
            move |_limit: u32| {
                let items = items.clone();
                async move { Ok::<_, String>(std::mem::take(&mut *items.lock().unwrap())) }
            }
        };
        let handle = {
            let done = done.clone();
            move |_item: u32, _stop| {
                let done = done.clone();
                async move {
                    done.fetch_add(1, Ordering::SeqCst);
                }
            }
        };
        let mut idle = poller(1, Duration::from_secs(3600), Duration::from_secs(3600));
        idle.wake = Some(wake.clone());
        let run = tokio::spawn(idle.run(claim, handle, stop));
        tokio::time::sleep(Duration::from_millis(20)).await;
        items.lock().unwrap().push(7);
        wake.notify_one();
        let started = Instant::now();
        while done.load(Ordering::SeqCst) == 0 {
            assert!(started.elapsed() < Duration::from_secs(1), "not woken");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        stop_tx.send(true).unwrap();
        run.await.unwrap();
    }

    #[tokio::test]
    async fn on_stop_items_in_hand_finish_or_are_cancelled() {
        for on_stop in [OnStop::Drain, OnStop::Abort] {
            let (finished, started) = (Arc::new(AtomicUsize::new(0)), Arc::new(Notify::new()));
            let (stop_tx, stop) = watch::channel(false);
            let handed = Arc::new(AtomicUsize::new(0));
            let claim = {
                let handed = handed.clone();
                move |_limit: u32| {
                    let first = handed.fetch_add(1, Ordering::SeqCst) == 0;
                    async move { Ok::<_, String>(if first { vec![1_u32] } else { vec![] }) }
                }
            };
            let handle = {
                let (finished, started) = (finished.clone(), started.clone());
                move |_item: u32, mut stop: watch::Receiver<bool>| {
                    let (finished, started) = (finished.clone(), started.clone());
                    async move {
                        started.notify_one();
                        // Sees the stop, then takes a moment to wind up.
                        let _ = stop.wait_for(|s| *s).await;
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        finished.fetch_add(1, Ordering::SeqCst);
                    }
                }
            };
            let mut p = poller(2, Duration::from_millis(5), Duration::from_secs(1));
            p.on_stop = on_stop;
            let run = tokio::spawn(p.run(claim, handle, stop));
            started.notified().await;
            stop_tx.send(true).unwrap();
            run.await.unwrap();
            let expected = usize::from(on_stop == OnStop::Drain);
            assert_eq!(finished.load(Ordering::SeqCst), expected, "{on_stop:?}");
        }
    }
}
