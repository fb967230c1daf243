#![allow(dead_code)]
//! A running in-process instance of the service for the multi-instance suites: built from a set of
//! variables (as `Config::from_lookup` reads them), served until `stop`.

use std::collections::HashMap;
use std::time::Duration;

use mms_gateway::config::Config;
use mms_gateway::startup::Application;

/// A running instance.
pub struct Instance {
    /// `http://127.0.0.1:<port>`.
    pub base: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    server: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Instance {
    /// Builds the service from `vars` and serves it in the background.
    pub async fn serve(vars: HashMap<&str, String>) -> Self {
        let config = Config::from_lookup(false, |k| vars.get(k).cloned()).expect("valid settings");
        let app = Application::build(config).await.expect("app builds");
        let base = format!("http://{}", app.local_addr());
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(app.run_until(async {
            let _ = rx.await;
        }));
        Self {
            base,
            stop: Some(tx),
            server,
        }
    }

    /// Graceful shutdown, as on SIGTERM; returns once the instance has stopped (at most 30 s).
    pub async fn stop(mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        let _ = tokio::time::timeout(Duration::from_secs(30), &mut self.server).await;
    }
}
