//! `mms-gateway health`, the container health check: exit 0 while a service answers `/health`, exit 1
//! with one line once it does not.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_mms-gateway");

fn command(dir: &std::path::Path) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default());
    cmd
}

#[tokio::test]
async fn health_probes_a_running_service_and_fails_once_it_is_gone() {
    let dir = tempfile::tempdir().unwrap();
    let mut service = command(dir.path())
        .args(["serve", "--sandbox"])
        .envs([("PORT", "0"), ("HOST", "127.0.0.1"), ("RUST_LOG", "warn")])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = service.stdout.take().unwrap();
    // Read every line (the service must not meet a closed stdout) and hand over the port.
    let (port_tx, port_rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(addr) = line.strip_prefix("mms-gateway listening on http://") {
                let _ = port_tx.send(addr.rsplit(':').next().unwrap_or_default().to_owned());
            }
        }
    });
    let port = tokio::task::spawn_blocking(move || port_rx.recv_timeout(Duration::from_secs(30)))
        .await
        .unwrap()
        .expect("the service printed where it listens in time");

    let probe = |port: String| {
        let mut cmd = command(dir.path());
        // PORT and HOST are read from the environment, as in the Docker image.
        cmd.arg("health")
            .envs([("PORT", port.as_str()), ("HOST", "0.0.0.0")]);
        tokio::task::spawn_blocking(move || cmd.output().unwrap())
    };
    // A loaded machine may take a moment between binding and serving: probe as a health check
    // would, a few times (bounded).
    let mut up = probe(port.clone()).await.unwrap();
    for _ in 0..20 {
        if up.status.success() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
        up = probe(port.clone()).await.unwrap();
    }
    assert!(
        up.status.success(),
        "{}",
        String::from_utf8_lossy(&up.stderr)
    );

    let _ = service.kill();
    let _ = service.wait();
    let down = probe(port).await.unwrap();
    assert_eq!(down.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&down.stderr);
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(stderr.starts_with("unhealthy: "), "{stderr}");
}
