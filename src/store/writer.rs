//! Group commit for SQLite: one writer task owns all writes.
//!
//! Callers hand their write (a closure over a connection) to the writer through a channel and wait on a
//! oneshot. The writer takes whatever is queued (up to `max_batch` writes), runs each inside its own
//! SAVEPOINT of ONE transaction, commits once, and only then answers every caller. With
//! `synchronous=FULL` that commit is one disk sync for the whole group instead of one per write, so many
//! concurrent sends share the cost; a failed write rolls back only its own savepoint.
//!
//! The writer holds its connection only while a group runs; it waits for work with none checked out.

use std::sync::Arc;

use futures::future::BoxFuture;
use sqlx::{Acquire, AnyConnection, AnyPool};
use tokio::sync::{mpsc, oneshot};

use super::StoreError;

/// One write: runs against a connection already inside a transaction.
pub(crate) type Work<T> =
    Box<dyn for<'c> FnOnce(&'c mut AnyConnection) -> BoxFuture<'c, Result<T, StoreError>> + Send>;

/// How many writes may wait for the writer before callers feel back-pressure.
const QUEUE_CAPACITY: usize = 4096;

/// A queued write of any result type.
trait Job: Send {
    /// Runs the write; `true` when it succeeded (its savepoint may be released).
    fn run<'c>(&'c mut self, conn: &'c mut AnyConnection) -> BoxFuture<'c, bool>;
    /// Answers the caller once the group's commit is known.
    fn finish(self: Box<Self>, commit: Result<(), &Arc<sqlx::Error>>);
}

struct Pending<T> {
    work: Option<Work<T>>,
    result: Option<Result<T, StoreError>>,
    reply: oneshot::Sender<Result<T, StoreError>>,
}

impl<T: Send + 'static> Job for Pending<T> {
    fn run<'c>(&'c mut self, conn: &'c mut AnyConnection) -> BoxFuture<'c, bool> {
        Box::pin(async move {
            let result = match self.work.take() {
                Some(work) => work(conn).await,
                None => Err(StoreError::WriterStopped),
            };
            let ok = result.is_ok();
            self.result = Some(result);
            ok
        })
    }

    fn finish(self: Box<Self>, commit: Result<(), &Arc<sqlx::Error>>) {
        let answer = match (self.result, commit) {
            (Some(Err(error)), _) => Err(error),
            (Some(Ok(value)), Ok(())) => Ok(value),
            (_, Err(error)) => Err(StoreError::GroupCommit(Arc::clone(error))),
            (None, Ok(())) => Err(StoreError::WriterStopped),
        };
        // The caller may have given up waiting; the write stands either way.
        let _ = self.reply.send(answer);
    }
}

/// The handle through which writes reach the writer task. Cloning shares the same task.
#[derive(Clone)]
pub(crate) struct Writer {
    queue: mpsc::Sender<Box<dyn Job>>,
}

impl Writer {
    /// Starts the writer task on `pool` (one connection), grouping up to `max_batch` writes a commit.
    /// The task ends when the last handle is dropped.
    pub(crate) fn spawn(pool: AnyPool, max_batch: usize) -> Writer {
        let (queue, jobs) = mpsc::channel(QUEUE_CAPACITY);
        tokio::spawn(run(pool, jobs, max_batch.max(1)));
        Writer { queue }
    }

    /// Runs `work` in the next group and returns its result once the group is committed.
    pub(crate) async fn submit<T: Send + 'static>(&self, work: Work<T>) -> Result<T, StoreError> {
        let (reply, answer) = oneshot::channel();
        let job = Pending {
            work: Some(work),
            result: None,
            reply,
        };
        self.queue
            .send(Box::new(job))
            .await
            .map_err(|_| StoreError::WriterStopped)?;
        answer.await.map_err(|_| StoreError::WriterStopped)?
    }

    /// `false` once the writer task has stopped.
    pub(crate) fn is_running(&self) -> bool {
        !self.queue.is_closed()
    }
}

async fn run(pool: AnyPool, mut jobs: mpsc::Receiver<Box<dyn Job>>, max_batch: usize) {
    let mut group: Vec<Box<dyn Job>> = Vec::with_capacity(max_batch);
    while jobs.recv_many(&mut group, max_batch).await > 0 {
        let commit = commit_group(&pool, &mut group).await.map_err(Arc::new);
        if let Err(error) = &commit {
            tracing::error!(error = %error, writes = group.len(), "store.group_commit_failed");
        }
        for job in group.drain(..) {
            job.finish(commit.as_ref().map(|_| ()));
        }
    }
    pool.close().await;
}

async fn commit_group(pool: &AnyPool, group: &mut [Box<dyn Job>]) -> Result<(), sqlx::Error> {
    let mut conn = pool.acquire().await?;
    let mut tx = conn.begin().await?;
    for job in group.iter_mut() {
        let mut savepoint = tx.begin().await?;
        if job.run(&mut savepoint).await {
            savepoint.commit().await?;
        } else {
            savepoint.rollback().await?;
        }
    }
    tx.commit().await
}
