//! Group commit for SQLite: one writer thread owns all writes.
//!
//! Callers hand their write (a closure over a connection) to the writer through a channel and wait on a
//! oneshot. The writer takes whatever is queued (up to `max_batch` writes), runs each inside its own
//! SAVEPOINT of ONE transaction, commits once, and only then answers every caller. With
//! `synchronous=FULL` that commit is one disk sync for the whole group instead of one per write, so many
//! concurrent sends share the cost; a failed write rolls back only its own savepoint.
//!
//! The writer is a plain thread with its own `rusqlite` connection: a group's statements run one after
//! the other without leaving the thread (see module `db` for why this matters). The writes are the same
//! async functions PostgreSQL runs; on this connection every future is ready at once, so a trivial
//! executor drives them.

use std::panic::{self, AssertUnwindSafe};
use std::sync::Arc;

use futures::future::BoxFuture;
use futures::FutureExt;
use rusqlite::Connection;
use tokio::sync::{mpsc, oneshot};

use super::db::Db;
use super::StoreError;

/// One write: runs against a connection already inside a transaction.
pub(crate) type Work<T> =
    Box<dyn for<'c> FnOnce(&'c mut dyn Db) -> BoxFuture<'c, Result<T, StoreError>> + Send>;

/// How many writes may wait for the writer before callers feel back-pressure.
const QUEUE_CAPACITY: usize = 4096;

/// A queued write (or read, [`Writer::read`]) of any result type.
trait Job: Send {
    /// Whether it only reads: it is answered at once, outside the group's transaction.
    fn reads_only(&self) -> bool;
    /// Runs the write; `true` when it succeeded (its savepoint may be released).
    fn run(&mut self, conn: &mut Connection) -> bool;
    /// Answers the caller once the group's commit is known.
    fn finish(self: Box<Self>, commit: Result<(), &Arc<rusqlite::Error>>);
}

struct Pending<T> {
    reads_only: bool,
    work: Option<Work<T>>,
    result: Option<Result<T, StoreError>>,
    reply: oneshot::Sender<Result<T, StoreError>>,
}

impl<T: Send + 'static> Job for Pending<T> {
    fn reads_only(&self) -> bool {
        self.reads_only
    }

    fn run(&mut self, conn: &mut Connection) -> bool {
        let result = match self.work.take() {
            // Every future on this connection is ready at once; one that is not would wait on the
            // Tokio runtime from outside it, so it fails instead of blocking every writer.
            Some(work) => work(conn)
                .now_or_never()
                .unwrap_or(Err(StoreError::WriterMisuse(
                    "a write waited on something other than the database",
                ))),
            None => Err(StoreError::WriterStopped),
        };
        let ok = result.is_ok();
        self.result = Some(result);
        ok
    }

    fn finish(self: Box<Self>, commit: Result<(), &Arc<rusqlite::Error>>) {
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

/// The handle through which writes reach the writer thread. Cloning shares the same thread.
#[derive(Clone)]
pub(crate) struct Writer {
    queue: mpsc::Sender<Box<dyn Job>>,
}

impl Writer {
    /// Starts the writer thread on `conn`, grouping up to `max_batch` writes a commit. The thread ends
    /// (closing the connection) when the last handle is dropped.
    pub(crate) fn spawn(conn: Connection, max_batch: usize) -> Result<Writer, StoreError> {
        let (queue, jobs) = mpsc::channel(QUEUE_CAPACITY);
        std::thread::Builder::new()
            .name("sqlite-writer".into())
            .spawn(move || run(conn, jobs, max_batch.max(1)))
            .map_err(|error| {
                tracing::error!(%error, "store.writer_not_started");
                StoreError::WriterStopped
            })?;
        Ok(Writer { queue })
    }

    /// Runs `work` in the next group and returns its result once the group is committed.
    pub(crate) async fn submit<T: Send + 'static>(&self, work: Work<T>) -> Result<T, StoreError> {
        self.enqueue(work, false).await
    }

    /// Runs `work`, which only reads, on the writer's connection as soon as the writer takes it,
    /// before (and outside) the transaction of the writes taken with it: it sees what is committed,
    /// and answers without waiting for a disk sync. For a read on every send (the opt-out list),
    /// this is cheaper than a hop to one of sqlx's reader threads.
    pub(crate) async fn read<T: Send + 'static>(&self, work: Work<T>) -> Result<T, StoreError> {
        self.enqueue(work, true).await
    }

    async fn enqueue<T: Send + 'static>(
        &self,
        work: Work<T>,
        reads_only: bool,
    ) -> Result<T, StoreError> {
        let (reply, answer) = oneshot::channel();
        let job = Pending {
            reads_only,
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

    /// `false` once the writer thread has stopped.
    pub(crate) fn is_running(&self) -> bool {
        !self.queue.is_closed()
    }
}

fn run(mut conn: Connection, mut jobs: mpsc::Receiver<Box<dyn Job>>, max_batch: usize) {
    let mut group: Vec<Box<dyn Job>> = Vec::with_capacity(max_batch);
    while jobs.blocking_recv_many(&mut group, max_batch) > 0 {
        // Reads first, each on its own (no transaction is open between groups).
        let (reads, writes): (Vec<_>, Vec<_>) = group.drain(..).partition(|job| job.reads_only());
        for mut job in reads {
            run_read(&mut conn, job.as_mut());
            job.finish(Ok(()));
        }
        group = writes;
        if group.is_empty() {
            continue;
        }
        let commit = commit_group(&mut conn, &mut group).map_err(Arc::new);
        if let Err(error) = &commit {
            tracing::error!(error = %error, writes = group.len(), "store.group_commit_failed");
        }
        for job in group.drain(..) {
            job.finish(commit.as_ref().map(|_| ()));
        }
    }
}

fn commit_group(conn: &mut Connection, group: &mut [Box<dyn Job>]) -> Result<(), rusqlite::Error> {
    exec(conn, "BEGIN IMMEDIATE")?;
    let result = run_group(conn, group).and_then(|()| exec(conn, "COMMIT"));
    if result.is_err() && !conn.is_autocommit() {
        // Leave the connection usable for the next group; the group's writes are lost together.
        let _ = exec(conn, "ROLLBACK");
    }
    result
}

/// Runs a statement without parameters, prepared once.
fn exec(conn: &Connection, sql: &str) -> Result<(), rusqlite::Error> {
    conn.prepare_cached(sql)?.raw_execute().map(|_| ())
}

/// Runs a read with the connection made read-only (`query_only`) for it, so a read that tried to
/// write would fail rather than commit on its own; one that panics fails alone, like a write.
fn run_read(conn: &mut Connection, job: &mut dyn Job) {
    if let Err(error) = exec(conn, "PRAGMA query_only = ON") {
        tracing::error!(%error, "store.read_not_started");
    }
    if panic::catch_unwind(AssertUnwindSafe(|| job.run(conn))).is_err() {
        tracing::error!("store.read_panicked");
    }
    if let Err(error) = exec(conn, "PRAGMA query_only = OFF") {
        tracing::error!(%error, "store.read_not_ended");
    }
}

fn run_group(conn: &mut Connection, group: &mut [Box<dyn Job>]) -> Result<(), rusqlite::Error> {
    for job in group.iter_mut() {
        exec(conn, "SAVEPOINT write")?;
        // A write that panics fails alone (its caller hears `WriterStopped`); the writer goes on.
        let ok = panic::catch_unwind(AssertUnwindSafe(|| job.run(conn))).unwrap_or_else(|_| {
            tracing::error!("store.write_panicked");
            false
        });
        if !ok {
            exec(conn, "ROLLBACK TO write")?;
        }
        exec(conn, "RELEASE write")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::db::{query, query_scalar};

    fn writer() -> Writer {
        let conn = Connection::open_in_memory().expect("in-memory SQLite");
        conn.execute_batch("CREATE TABLE t (n BIGINT PRIMARY KEY)")
            .expect("table");
        Writer::spawn(conn, 16).expect("writer")
    }

    fn insert(n: i64) -> Work<u64> {
        Box::new(move |db| {
            Box::pin(async move { query("INSERT INTO t VALUES ($1)").bind(n).execute(db).await })
        })
    }

    fn count() -> Work<i64> {
        Box::new(|db| {
            Box::pin(async move { query_scalar("SELECT COUNT(*) FROM t").fetch_one(db).await })
        })
    }

    #[tokio::test]
    async fn a_failed_write_rolls_back_alone() {
        let writer = writer();
        let (a, b, c) = tokio::join!(
            writer.submit(insert(1)),
            writer.submit(insert(1)),
            writer.submit(insert(2))
        );
        assert_eq!(a.expect("first"), 1);
        assert!(b.expect_err("duplicate").to_string().contains("UNIQUE"));
        assert_eq!(c.expect("third"), 1);
        assert_eq!(writer.submit(count()).await.expect("count"), 2);
    }

    #[tokio::test]
    async fn reads_are_answered_outside_the_group_and_cannot_write() {
        let writer = writer();
        writer.submit(insert(1)).await.expect("first write");
        let (read, write, dup) = tokio::join!(
            writer.read(count()),
            writer.submit(insert(2)),
            writer.submit(insert(2))
        );
        // The read sees what was committed before; the failing write of its group does not fail it.
        assert!(matches!(read, Ok(1 | 2)), "{read:?}");
        assert_eq!(write.expect("second write"), 1);
        assert!(dup.is_err());
        assert!(writer.read(insert(3)).await.is_err(), "a read cannot write");
        assert_eq!(writer.read(count()).await.expect("count"), 2);
        // And the writer writes again afterwards.
        assert_eq!(
            writer.submit(insert(4)).await.expect("write after reads"),
            1
        );
    }

    #[tokio::test]
    async fn a_panicking_write_fails_alone_and_the_writer_goes_on() {
        let writer = writer();
        let panics: Work<()> = Box::new(|db| {
            Box::pin(async move {
                query("INSERT INTO t VALUES (7)").execute(db).await?;
                panic!("a bug in a write")
            })
        });
        assert!(matches!(
            writer.submit(panics).await,
            Err(StoreError::WriterStopped)
        ));
        assert_eq!(writer.submit(insert(8)).await.expect("next write"), 1);
        // The panicking write's row was rolled back with its savepoint.
        assert_eq!(writer.submit(count()).await.expect("count"), 1);
        assert!(writer.is_running());
    }

    #[tokio::test]
    async fn a_write_that_waits_on_tokio_fails_instead_of_hanging() {
        let writer = writer();
        let waits: Work<()> = Box::new(|_db| {
            Box::pin(async move {
                std::future::pending::<()>().await;
                Ok(())
            })
        });
        assert!(matches!(
            writer.submit(waits).await,
            Err(StoreError::WriterMisuse(_))
        ));
        assert_eq!(writer.submit(insert(9)).await.expect("next write"), 1);
    }
}
