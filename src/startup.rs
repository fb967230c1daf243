//! Building and running the service: the listener, the state, the sandbox, graceful shutdown.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use tokio::net::TcpListener;

use crate::background::{Background, StoreMetrics};
use crate::config::Config;
use crate::delivery::{fleet, Delivery};
use crate::dispatch::Dispatcher;
use crate::http::listener::LimitedListener;
use crate::http::ops_layers::OpsState;
use crate::http::{router, AppState};
use crate::metrics::Metrics;
use crate::plivo::{Limiter, PlivoClient, RetryPolicy, RetryingSender};
use crate::sandbox::{Simulator, SimulatorConfig};
use crate::store;

/// A built service, bound to its port, ready to run.
pub struct Application {
    listener: TcpListener,
    state: AppState,
    simulator: Option<Simulator>,
    limiter: Arc<Limiter>,
    instance: String,
}

/// Builds the dispatcher (Plivo client with retries) from the configuration.
pub fn build_dispatcher(config: &Config) -> anyhow::Result<Dispatcher> {
    build_dispatcher_with(config, None, None)
}

/// Like [`build_dispatcher`], counting Plivo attempts and retries in `metrics` and keeping every
/// attempt within `limiter`, when given.
pub fn build_dispatcher_with(
    config: &Config,
    metrics: Option<Metrics>,
    limiter: Option<Arc<Limiter>>,
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
    if let Some(limiter) = limiter {
        sender = sender.with_limiter(limiter);
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
        let limiter = Arc::new(Limiter::new(
            config.delivery.max_rps,
            config.delivery.max_concurrency,
        ));
        let instance = format!("{}-{}", std::process::id(), uuid::Uuid::new_v4().simple());
        fleet::join(&store, &limiter, &instance)
            .await
            .context("joining the instances that share the database")?;
        let metrics = Metrics::new();
        metrics.set_source(Arc::new(StoreMetrics(store.clone())));
        let dispatcher =
            build_dispatcher_with(&config, Some(metrics.clone()), Some(limiter.clone()))?;
        let ops = OpsState::new(&config.ops).context("building the media preflight client")?;
        let ttl = config.delivery.message_ttl;
        let state = AppState {
            config: Arc::new(config),
            delivery: Delivery::new(store, dispatcher, ttl),
            metrics,
            ops,
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
        let (stop_tx, stop) = tokio::sync::watch::channel(false);
        let background = Background::start(&self.state, self.limiter, self.instance, &stop);
        let grace = self.state.config.delivery.shutdown_grace;
        let ops = &self.state.config.ops;
        let listener = LimitedListener::new(
            self.listener,
            ops.max_connections,
            ops.connection_idle_timeout,
        )
        .into_serve();
        let app = router(self.state).into_make_service_with_connect_info::<SocketAddr>();
        let signal = async move {
            signal.await;
            // Delivery workers stop taking work at once; the server finishes its requests.
            let _ = stop_tx.send(true);
        };
        let served = axum::serve(listener, app)
            .with_graceful_shutdown(signal)
            .await;
        background.finish(grace).await;
        if let Some(simulator) = self.simulator {
            simulator.shutdown();
        }
        served
    }
}

/// Starts the built-in Plivo simulator and points the configuration at it; callbacks come back to
/// this service on loopback unless `PUBLIC_BASE_URL` says otherwise.
async fn start_simulator(config: &mut Config, port: u16) -> anyhow::Result<Simulator> {
    let mut sim_config = SimulatorConfig::new(
        config.plivo.auth_id.clone(),
        config.plivo.auth_token.clone(),
    );
    if config.public_base_url.is_none() {
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
