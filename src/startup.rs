//! Building and running the service: the listener, the state, the sandbox, graceful shutdown.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio::net::TcpListener;

use crate::config::Config;
use crate::delivery::Delivery;
use crate::dispatch::Dispatcher;
use crate::http::ops_layers::OpsState;
use crate::http::{router, AppState};
use crate::metrics::Metrics;
use crate::plivo::{PlivoClient, RetryPolicy, RetryingSender};
use crate::sandbox::{Simulator, SimulatorConfig};
use crate::store::{self, MessageStore};

/// How often expired idempotency keys are purged.
const PURGE_EVERY: Duration = Duration::from_secs(3600);

/// A built service, bound to its port, ready to run.
pub struct Application {
    listener: TcpListener,
    state: AppState,
    simulator: Option<Simulator>,
}

/// Builds the dispatcher (Plivo client with retries) from the configuration.
pub fn build_dispatcher(config: &Config) -> anyhow::Result<Dispatcher> {
    build_dispatcher_with_metrics(config, None)
}

/// Like [`build_dispatcher`], counting Plivo attempts and retries in `metrics` when given.
pub fn build_dispatcher_with_metrics(
    config: &Config,
    metrics: Option<Metrics>,
) -> anyhow::Result<Dispatcher> {
    let client = PlivoClient::new(&config.plivo).context("building the HTTP client for Plivo")?;
    let policy = RetryPolicy {
        max_retries: config.plivo.max_retries,
        base: config.plivo.retry_base,
    };
    let mut sender = RetryingSender::new(Arc::new(client), policy);
    if let Some(metrics) = metrics {
        sender = sender.with_metrics(metrics);
    }
    Ok(Dispatcher::new(
        sender,
        config.plivo.sender_number.clone(),
        config.status_callback_url(),
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
            Some(start_simulator(&mut config, port).await?)
        } else {
            None
        };
        let store = store::connect(&config.database_url)
            .await
            .context("opening the message store (DATABASE_URL)")?;
        let metrics = Metrics::new();
        let dispatcher = build_dispatcher_with_metrics(&config, Some(metrics.clone()))?;
        let ops = OpsState::new(&config.ops).context("building the media preflight client")?;
        let state = AppState {
            config: Arc::new(config),
            delivery: Delivery::new(store, dispatcher),
            metrics,
            ops,
        };
        Ok(Self {
            listener,
            state,
            simulator,
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
        self.state.ops.auth().enabled()
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
        let purge = tokio::spawn(purge_expired_keys(self.state.delivery.store().clone()));
        let app = router(self.state).into_make_service_with_connect_info::<SocketAddr>();
        let served = axum::serve(self.listener, app)
            .with_graceful_shutdown(signal)
            .await;
        purge.abort();
        if let Some(simulator) = self.simulator {
            simulator.shutdown();
        }
        served
    }
}

/// Starts the built-in Plivo simulator and points the configuration at it; callbacks come back to
/// this service on loopback unless `PUBLIC_BASE_URL` says otherwise.
async fn start_simulator(config: &mut Config, port: u16) -> anyhow::Result<Simulator> {
    let sim_config = SimulatorConfig::new(
        config.plivo.auth_id.clone(),
        config.plivo.auth_token.clone(),
    );
    let simulator = Simulator::spawn(sim_config)
        .await
        .context("starting the Plivo simulator")?;
    config.plivo.base_url = simulator.base_url();
    if config.public_base_url.is_none() {
        config.public_base_url =
            Some(url::Url::parse(&format!("http://127.0.0.1:{port}")).context("sandbox URL")?);
    }
    tracing::warn!(
        simulator = %simulator.base_url(),
        "SANDBOX MODE: Plivo is a built-in simulator; no message leaves this machine"
    );
    Ok(simulator)
}

/// Deletes idempotency keys older than 24 hours, once an hour.
async fn purge_expired_keys(store: Arc<dyn MessageStore>) {
    let mut every = tokio::time::interval(PURGE_EVERY);
    loop {
        every.tick().await;
        let cutoff = chrono::Utc::now() - chrono::Duration::hours(24);
        match store.purge_expired_idempotency_keys(cutoff).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(purged = n, "expired idempotency keys deleted"),
            Err(e) => tracing::warn!(error = %e, "could not purge expired idempotency keys"),
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
