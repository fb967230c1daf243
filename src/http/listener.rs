//! The TCP listener the server accepts from.
//!
//! * At most `MAX_CONNECTIONS` open connections.
//! * A connection idle in both directions for `CONNECTION_IDLE_TIMEOUT_SECONDS` is closed.
//! * A request head (request line and headers) must be complete within
//!   `HEADER_READ_TIMEOUT_SECONDS` of its first byte, however slowly it trickles (axum 0.8's server
//!   sets no header-read timeout of its own). The end of a head is its first empty line.
//! * When every slot is taken and another client connects, the connection that has waited longest
//!   for a request head (a silent or trickling client, or an idle keep-alive one) is closed to make
//!   room, so a load balancer's probe is answered even then. Connections with a request in progress
//!   are never closed for this.
//!
//! HTTP/2 connections (prior knowledge) are recognised by their preface and left to hyper's own
//! HTTP/2 handling after it.

use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::serve::{Listener, ListenerExt, TapIo};
use futures::task::AtomicWaker;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::{Instant, Sleep};

/// The time limits a connection lives under.
#[derive(Debug, Clone, Copy)]
pub struct ConnectionLimits {
    /// `MAX_CONNECTIONS`.
    pub max_connections: usize,
    /// `CONNECTION_IDLE_TIMEOUT_SECONDS`.
    pub idle: Duration,
    /// `HEADER_READ_TIMEOUT_SECONDS`.
    pub head: Duration,
}

/// A listener that caps open connections, closes idle and slow ones, and makes room for new
/// clients when full.
pub struct LimitedListener {
    inner: TcpListener,
    slots: Arc<Semaphore>,
    limits: ConnectionLimits,
    registry: Arc<Registry>,
}

impl LimitedListener {
    /// Wraps `inner`.
    pub fn new(inner: TcpListener, limits: ConnectionLimits) -> Self {
        Self {
            inner,
            slots: Arc::new(Semaphore::new(limits.max_connections.max(1))),
            limits,
            registry: Arc::new(Registry::default()),
        }
    }

    /// The listener to hand to `axum::serve`, keeping `ConnectInfo<SocketAddr>` available (axum
    /// provides it for a `tap_io` listener whose address is a `SocketAddr`).
    pub fn into_serve(self) -> TapIo<Self, fn(&mut LimitedStream)> {
        fn untouched(_: &mut LimitedStream) {}
        self.tap_io(untouched as fn(&mut LimitedStream))
    }

    async fn accept_tcp(&mut self) -> (TcpStream, SocketAddr) {
        loop {
            match self.inner.accept().await {
                Ok((stream, addr)) => {
                    let _ = stream.set_nodelay(true);
                    return (stream, addr);
                }
                Err(e) => {
                    // Like axum's own listener: e.g. too many open files; pause and go on.
                    tracing::warn!(error = %e, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }
    }

    /// Waits for a slot for a client already accepted, closing the connection that has waited
    /// longest for a request head to make one.
    async fn make_room(&self) -> OwnedSemaphorePermit {
        loop {
            if let Some(victim) = self.registry.longest_waiting() {
                tracing::info!("every connection slot is taken: closing the longest-waiting one");
                victim.evict();
            }
            let acquire = self.slots.clone().acquire_owned();
            match tokio::time::timeout(Duration::from_millis(500), acquire).await {
                Ok(Ok(slot)) => return slot,
                // The semaphore is never closed; wait rather than spin.
                Ok(Err(_)) => return std::future::pending().await,
                Err(_) => continue,
            }
        }
    }
}

impl Listener for LimitedListener {
    type Io = LimitedStream;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        let slot = self.slots.clone().try_acquire_owned().ok();
        let (stream, addr) = self.accept_tcp().await;
        let slot = match slot {
            Some(slot) => slot,
            None => match self.slots.clone().try_acquire_owned() {
                Ok(slot) => slot,
                Err(_) => self.make_room().await,
            },
        };
        let io = LimitedStream::new(stream, slot, self.limits, &self.registry);
        (io, addr)
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        self.inner.local_addr()
    }
}

/// A `waiting_since` for a connection with a request in progress (never evicted).
const BUSY: u64 = u64::MAX;

/// The open connections, so that a full listener can pick one to close.
struct Registry {
    epoch: Instant,
    next_id: AtomicU64,
    connections: Mutex<HashMap<u64, Arc<Shared>>>,
}

impl Default for Registry {
    fn default() -> Self {
        Self {
            epoch: Instant::now(),
            next_id: AtomicU64::new(0),
            connections: Mutex::new(HashMap::new()),
        }
    }
}

impl Registry {
    fn now(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(BUSY - 1)
    }

    fn add(&self, shared: Arc<Shared>) -> u64 {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut map) = self.connections.lock() {
            map.insert(id, shared);
        }
        id
    }

    fn remove(&self, id: u64) {
        if let Ok(mut map) = self.connections.lock() {
            map.remove(&id);
        }
    }

    /// The connection, not yet evicted, that has waited longest for a request head.
    fn longest_waiting(&self) -> Option<Arc<Shared>> {
        let map = self.connections.lock().ok()?;
        map.values()
            .filter(|c| !c.evicted.load(Ordering::Acquire))
            .map(|c| (c.waiting_since.load(Ordering::Acquire), c))
            .filter(|(since, _)| *since != BUSY)
            .min_by_key(|(since, _)| *since)
            .map(|(_, c)| Arc::clone(c))
    }
}

/// What the listener and a connection share.
struct Shared {
    /// When the connection started waiting for its current request head (registry millis), or
    /// [`BUSY`].
    waiting_since: AtomicU64,
    evicted: AtomicBool,
    reader: AtomicWaker,
}

impl Shared {
    fn evict(&self) {
        self.evicted.store(true, Ordering::Release);
        self.reader.wake();
    }
}

/// Where a connection is in reading a request head.
#[derive(Debug, Clone, Copy)]
struct HeadScan {
    /// Waiting for, or receiving, a request head.
    in_head: bool,
    /// A byte other than CR/LF has arrived in this head (empty lines before a request are skipped).
    seen_content: bool,
    /// The last two bytes, for spotting the empty line that ends the head.
    last: [u8; 2],
    /// Bytes seen since the connection opened, up to the length of the HTTP/2 preface.
    opened: usize,
}

/// The start of the HTTP/2 connection preface.
const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0";

/// A connection that holds its slot, ends itself after `idle` without traffic either way, and ends
/// itself when a request head takes longer than the head limit.
pub struct LimitedStream {
    inner: TcpStream,
    _slot: OwnedSemaphorePermit,
    limits: ConnectionLimits,
    idle_deadline: Pin<Box<Sleep>>,
    head_deadline: Option<Pin<Box<Sleep>>>,
    scan: HeadScan,
    http2: bool,
    id: u64,
    shared: Arc<Shared>,
    registry: Arc<Registry>,
}

impl LimitedStream {
    fn new(
        inner: TcpStream,
        slot: OwnedSemaphorePermit,
        limits: ConnectionLimits,
        registry: &Arc<Registry>,
    ) -> Self {
        let shared = Arc::new(Shared {
            waiting_since: AtomicU64::new(registry.now()),
            evicted: AtomicBool::new(false),
            reader: AtomicWaker::new(),
        });
        let id = registry.add(Arc::clone(&shared));
        Self {
            inner,
            _slot: slot,
            limits,
            idle_deadline: Box::pin(tokio::time::sleep(limits.idle)),
            head_deadline: None,
            scan: HeadScan {
                in_head: true,
                seen_content: false,
                last: [0, 0],
                opened: 0,
            },
            http2: false,
            id,
            shared,
            registry: Arc::clone(registry),
        }
    }

    fn touch(&mut self) {
        let next = Instant::now() + self.limits.idle;
        self.idle_deadline.as_mut().reset(next);
    }

    /// Follows the request head through the bytes just read.
    fn scan_read(&mut self, data: &[u8]) {
        if self.http2 {
            return;
        }
        if self.scan.opened < H2_PREFACE.len() {
            let upto = (H2_PREFACE.len() - self.scan.opened).min(data.len());
            let expected = &H2_PREFACE[self.scan.opened..self.scan.opened + upto];
            let is_prefix_so_far = data[..upto] == *expected;
            self.scan.opened += upto;
            if is_prefix_so_far && self.scan.opened == H2_PREFACE.len() {
                self.http2 = true;
                self.end_head();
                return;
            }
        }
        if !self.scan.in_head || data.is_empty() {
            return;
        }
        if self.head_deadline.is_none() {
            self.head_deadline = Some(Box::pin(tokio::time::sleep(self.limits.head)));
        }
        for &b in data {
            let [before, last] = self.scan.last;
            if b != b'\r' && b != b'\n' {
                self.scan.seen_content = true;
            }
            let ends = b == b'\n'
                && self.scan.seen_content
                && (last == b'\n' || (last == b'\r' && before == b'\n'));
            self.scan.last = [last, b];
            if ends {
                self.end_head();
                return;
            }
        }
    }

    /// A whole head arrived: the request is in progress.
    fn end_head(&mut self) {
        self.scan.in_head = false;
        self.head_deadline = None;
        self.shared.waiting_since.store(BUSY, Ordering::Release);
    }

    /// The answer has begun: the connection waits for its next request head.
    fn scan_write(&mut self) {
        if self.http2 || self.scan.in_head {
            return;
        }
        self.scan = HeadScan {
            in_head: true,
            seen_content: false,
            last: [0, 0],
            opened: self.scan.opened,
        };
        self.head_deadline = None;
        self.shared
            .waiting_since
            .store(self.registry.now(), Ordering::Release);
    }

    fn head_expired(&mut self, cx: &mut Context<'_>) -> bool {
        self.head_deadline
            .as_mut()
            .is_some_and(|d| d.as_mut().poll(cx).is_ready())
    }
}

impl Drop for LimitedStream {
    fn drop(&mut self) {
        self.registry.remove(self.id);
    }
}

fn closed(why: &'static str) -> io::Error {
    io::Error::new(io::ErrorKind::TimedOut, why)
}

impl AsyncRead for LimitedStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        self.shared.reader.register(cx.waker());
        if self.shared.evicted.load(Ordering::Acquire) {
            return Poll::Ready(Err(closed(
                "connection closed to make room for a new client",
            )));
        }
        let before = buf.filled().len();
        match Pin::new(&mut self.inner).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                let read = buf.filled().len() - before;
                if read > 0 {
                    self.touch();
                    self.scan_read(&buf.filled()[before..]);
                    if self.head_expired(cx) {
                        return Poll::Ready(Err(closed("request head not received in time")));
                    }
                }
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => {
                if self.head_expired(cx) {
                    return Poll::Ready(Err(closed("request head not received in time")));
                }
                match self.idle_deadline.as_mut().poll(cx) {
                    Poll::Ready(()) => Poll::Ready(Err(closed("idle connection closed"))),
                    Poll::Pending => Poll::Pending,
                }
            }
        }
    }
}

impl AsyncWrite for LimitedStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let result = Pin::new(&mut self.inner).poll_write(cx, data);
        if matches!(result, Poll::Ready(Ok(n)) if n > 0) {
            self.touch();
            self.scan_write();
        }
        result
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let result = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if matches!(result, Poll::Ready(Ok(n)) if n > 0) {
            self.touch();
            self.scan_write();
        }
        result
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
