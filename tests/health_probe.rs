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
    let port = tokio::time::timeout(
        Duration::from_secs(30),
        tokio::task::spawn_blocking(move || {
            BufReader::new(stdout)
                .lines()
                .map_while(Result::ok)
                .find_map(|line| {
                    line.strip_prefix("mms-gateway listening on http://")
                        .and_then(|addr| addr.rsplit(':').next().map(str::to_owned))
                })
        }),
    )
    .await
    .expect("the service started in time")
    .unwrap()
    .expect("it printed where it listens");

    let probe = |port: String| {
        let mut cmd = command(dir.path());
        // PORT and HOST are read from the environment, as in the Docker image.
        cmd.arg("health")
            .envs([("PORT", port.as_str()), ("HOST", "0.0.0.0")]);
        tokio::task::spawn_blocking(move || cmd.output().unwrap())
    };
    let up = probe(port.clone()).await.unwrap();
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
