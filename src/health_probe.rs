//! `mms-gateway health`: asks a running service's `GET /health` whether it is up, for container health
//! checks (the runtime image has no curl). Exit 0 when it answers `200 {"status":"UP"}`, 1 otherwise.

use std::net::{IpAddr, Ipv4Addr};
use std::process::ExitCode;
use std::time::Duration;

/// How long the probe waits for the whole answer.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(3);

/// The URL probed for a service listening on `host:port`: an unspecified address (`0.0.0.0`, `::`)
/// is probed on loopback.
pub fn health_url(host: Option<IpAddr>, port: u16) -> String {
    let host = match host {
        None => IpAddr::V4(Ipv4Addr::LOCALHOST),
        Some(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        Some(ip) => ip,
    };
    match host {
        IpAddr::V4(v4) => format!("http://{v4}:{port}/health"),
        IpAddr::V6(v6) => format!("http://[{v6}]:{port}/health"),
    }
}

/// Probes `url` once and prints one line on failure.
pub async fn run(url: &str) -> ExitCode {
    match probe(url).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(why) => {
            eprintln!("unhealthy: {why}");
            ExitCode::FAILURE
        }
    }
}

async fn probe(url: &str) -> Result<(), String> {
    let client = reqwest::Client::builder()
        .timeout(PROBE_TIMEOUT)
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .build()
        .map_err(|e| format!("cannot build an HTTP client: {e}"))?;
    let response = client.get(url).send().await.map_err(|e| {
        let mut why = e.to_string();
        let mut source = std::error::Error::source(&e);
        while let Some(cause) = source {
            why = format!("{why}: {cause}");
            source = cause.source();
        }
        format!("{url} did not answer: {why}")
    })?;
    let status = response.status();
    let body: serde_json::Value = response
        .json()
        .await
        .map_err(|_| format!("{url} answered {status} without the health JSON"))?;
    if status.is_success() && body["status"] == "UP" {
        Ok(())
    } else {
        Err(format!("{url} answered {status} {body}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unspecified_addresses_are_probed_on_loopback() {
        assert_eq!(health_url(None, 3000), "http://127.0.0.1:3000/health");
        assert_eq!(
            health_url(Some("0.0.0.0".parse().unwrap()), 80),
            "http://127.0.0.1:80/health"
        );
        assert_eq!(
            health_url(Some("::".parse().unwrap()), 80),
            "http://127.0.0.1:80/health"
        );
        assert_eq!(
            health_url(Some("10.1.2.3".parse().unwrap()), 8080),
            "http://10.1.2.3:8080/health"
        );
        assert_eq!(
            health_url(Some("::1".parse().unwrap()), 3000),
            "http://[::1]:3000/health"
        );
    }
}
