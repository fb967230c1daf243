//! Building and running the service: the listener, the state, the sandbox, graceful shutdown.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use tokio::net::TcpListener;

use crate::background::{Background, StoreMetrics};
use crate::config::Config;
use crate::delivery::{fleet, Delivery};
use crate::http::auth::Authenticator;
use crate::http::listener::{ConnectionLimits, LimitedListener};
use crate::http::{router, AppState};
use crate::media_preflight::MediaPreflight;
use crate::metrics::Metrics;
use crate::plivo::{Limiter, MessageDefaults, PlivoClient, RetryPolicy, RetryingSender};
use crate::sandbox::{Simulator, SimulatorConfig};
use crate::send::Sender;
use crate::store;

/// A built service, bound to its port, ready to run.
pub struct Application {
    listener: TcpListener,
    state: AppState,
    simulator: Option<Simulator>,
    limiter: Arc<Limiter>,
    instance: String,
}

/// Builds the Plivo client with retries from the configuration, counting attempts and retries
/// in `metrics` and keeping every attempt within `limiter`.
pub fn build_plivo(
    config: &Config,
    metrics: Option<Metrics>,
    limiter: Arc<Limiter>,
) -> anyhow::Result<RetryingSender> {
    let client = PlivoClient::new(&config.plivo).context("building the HTTP client for Plivo")?;
    let policy = RetryPolicy {
        max_retries: config.plivo.max_retries,
        base: config.plivo.retry_base,
    };
    let mut sender = RetryingSender::new(Arc::new(client), policy)
        .with_limiter(limiter)
        .with_defaults(MessageDefaults {
            status_callback_url: config.status_callback_url(),
            // --- sender pool: a Powerpack instead of src ---
            powerpack_uuid: config.senders.powerpack_uuid.clone(),
            // --- reconciliation ---
            log: Some(config.reconcile.plivo_log.as_str()),
        });
    if let Some(metrics) = metrics {
        sender = sender.with_metrics(metrics);
    }
    Ok(sender)
}

// --- sender pool and per-sender pacing ---
/// The store and Plivo, sending from the configured sender pool, paced per sender when
/// `PLIVO_SENDER_MPS` is set.
fn new_delivery(config: &Config, store: Arc<store::Store>, plivo: RetryingSender) -> Delivery {
    let mut delivery = Delivery::new(store.clone(), plivo, config.delivery.message_ttl)
        .with_senders(crate::senders::SenderPool::from_config(&config.senders));
    if let Some(mps) = config.senders.mps {
        let pacing = crate::senders::SenderPacing::new(store, mps);
        delivery = delivery.with_pacing(pacing, config.senders.sync_slot_wait);
    }
    delivery
}

/// A new instance name: unique per process start, shared with the fleet.
fn instance_name() -> String {
    format!("{}-{}", std::process::id(), uuid::Uuid::new_v4().simple())
}

/// The limiter of Plivo's limits, as the configuration sets them for the whole fleet.
fn new_limiter(config: &Config) -> Arc<Limiter> {
    Arc::new(Limiter::new(
        config.delivery.max_rps,
        config.delivery.max_concurrency,
    ))
}

impl Application {
    /// Binds `HOST:PORT` (port 0 picks a free one), opens the store (running its migrations),
    /// starts the simulator in the sandbox, and builds the state.
    pub async fn build(mut config: Config) -> anyhow::Result<Self> {
        let address = SocketAddr::new(config.host, config.port);
        let listener = TcpListener::bind(address)
            .await
            .with_context(|| format!("cannot listen on {address}"))?;
        let port = listener
            .local_addr()
            .context("reading the bound address")?
            .port();
        let simulator = if config.sandbox {
            Some(start_simulator(&mut config, Some(port)).await?)
        } else {
            None
        };
        let store = store::connect(&config.database_url)
            .await
            .context("opening the message store (DATABASE_URL)")?;
        let limiter = new_limiter(&config);
        let instance = instance_name();
        fleet::join(&store, &limiter, &instance)
            .await
            .context("joining the instances that share the database")?;
        let metrics = Metrics::new();
        metrics.set_source(Arc::new(StoreMetrics(store.clone())));
        let plivo = build_plivo(&config, Some(metrics.clone()), limiter.clone())?;
        let preflight = MediaPreflight::from_config(&config.ops)
            .context("building the media preflight client")?;
        let delivery = new_delivery(&config, store, plivo);
        let sender =
            Sender::new(delivery.clone(), &config, preflight).with_metrics(metrics.clone());
        let auth = Arc::new(Authenticator::new(&config.ops.api_keys));
        let state = AppState {
            config: Arc::new(config),
            delivery,
            sender,
            metrics,
            auth,
        };
        Ok(Self {
            listener,
            state,
            simulator,
            limiter,
            instance,
        })
    }

    /// The sandbox's simulator, when running with `--sandbox`.
    pub fn simulator(&self) -> Option<&Simulator> {
        self.simulator.as_ref()
    }

    /// The port the service listens on.
    pub fn port(&self) -> u16 {
        self.local_addr().port()
    }

    /// Whether Plivo is the built-in simulator.
    pub fn is_sandbox(&self) -> bool {
        self.state.config.sandbox
    }

    /// This app's metrics (e.g. to install the store's [`crate::metrics::MetricsSource`]).
    pub fn metrics(&self) -> Metrics {
        self.state.metrics.clone()
    }

    /// Whether callers need an API key (`API_KEYS` is set).
    pub fn requires_api_key(&self) -> bool {
        self.state.auth.enabled()
    }

    /// The address the service listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound listener has an address")
    }

    /// Serves until SIGTERM or Ctrl-C, then lets in-flight requests finish.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.run_until(shutdown_signal()).await
    }

    /// Serves until `signal` completes, then lets in-flight requests finish.
    pub async fn run_until(
        self,
        signal: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let (stop_tx, stop) = tokio::sync::watch::channel(false);
        let background = Background::start(&self.state, self.limiter, self.instance, &stop);
        let grace = self.state.config.delivery.shutdown_grace;
        let ops = &self.state.config.ops;
        let limits = ConnectionLimits {
            max_connections: ops.max_connections,
            idle: ops.connection_idle_timeout,
            head: ops.header_read_timeout,
        };
        let listener = LimitedListener::new(self.listener, limits).into_serve();
        let sender = self.state.sender.clone();
        let app = router(self.state).into_make_service_with_connect_info::<SocketAddr>();
        let signal = async move {
            signal.await;
            // Delivery workers stop taking work at once; the server finishes its requests.
            let _ = stop_tx.send(true);
        };
        let served = axum::serve(listener, app)
            .with_graceful_shutdown(signal)
            .await;
        // Sends whose caller went away still run: let them record Plivo's answer.
        if !sender.wait_idle(grace).await {
            tracing::warn!("synchronous sends were still running at shutdown");
        }
        background.finish(grace).await;
        if let Some(simulator) = self.simulator {
            simulator.shutdown();
        }
        served
    }
}

/// Starts the built-in Plivo simulator and points the configuration at it; callbacks come back to
/// this service (listening on `port`) on loopback unless `PUBLIC_BASE_URL` says otherwise.
async fn start_simulator(config: &mut Config, port: Option<u16>) -> anyhow::Result<Simulator> {
    let mut sim_config = SimulatorConfig::new(
        config.plivo.auth_id.clone(),
        config.plivo.auth_token.clone(),
    );
    if let (None, Some(port)) = (&config.public_base_url, port) {
        config.public_base_url =
            Some(url::Url::parse(&format!("http://127.0.0.1:{port}")).context("sandbox URL")?);
    }
    // The magic numbers' replies come to this service, as Plivo's would to the Application's
    // message_url.
    sim_config.message_url = config.inbound_webhook_url();
    let simulator = Simulator::spawn(sim_config)
        .await
        .context("starting the Plivo simulator")?;
    config.plivo.base_url = simulator.base_url();
    tracing::warn!(
        simulator = %simulator.base_url(),
        "SANDBOX MODE: Plivo is a built-in simulator; no message leaves this machine"
    );
    Ok(simulator)
}

/// What the `send` command runs on: the configured store, a place in the fleet (so that it shares
/// Plivo's limits with running instances) and the same send service as `serve`.
pub struct OneShot {
    sender: Sender,
    simulator: Option<Simulator>,
    stop_heartbeat: tokio::sync::watch::Sender<bool>,
    heartbeat: tokio::task::JoinHandle<()>,
}

impl OneShot {
    /// Opens the store, joins the fleet (waiting for the others to shrink their share), and
    /// starts the simulator in the sandbox.
    pub async fn build(mut config: Config) -> anyhow::Result<Self> {
        let simulator = if config.sandbox {
            Some(start_simulator(&mut config, None).await?)
        } else {
            None
        };
        let store = store::connect(&config.database_url)
            .await
            .context("opening the message store (DATABASE_URL)")?;
        let limiter = new_limiter(&config);
        let instance = instance_name();
        fleet::join(&store, &limiter, &instance)
            .await
            .context("joining the instances that share the database")?;
        let (stop_heartbeat, stop) = tokio::sync::watch::channel(false);
        let heartbeat = tokio::spawn(fleet::run(store.clone(), limiter.clone(), instance, stop));
        let plivo = build_plivo(&config, None, limiter)?;
        let delivery = new_delivery(&config, store, plivo);
        let preflight = MediaPreflight::from_config(&config.ops)
            .context("building the media preflight client")?;
        Ok(Self {
            sender: Sender::new(delivery, &config, preflight),
            simulator,
            stop_heartbeat,
            heartbeat,
        })
    }

    /// The send service.
    pub fn sender(&self) -> &Sender {
        &self.sender
    }

    /// Leaves the fleet and stops the simulator.
    pub async fn finish(self) {
        let _ = self.stop_heartbeat.send(true);
        let aborter = self.heartbeat.abort_handle();
        if tokio::time::timeout(std::time::Duration::from_secs(5), self.heartbeat)
            .await
            .is_err()
        {
            aborter.abort();
        }
        if let Some(simulator) = self.simulator {
            simulator.shutdown();
        }
    }
}

/// Completes on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutting down: finishing requests in flight");
}
