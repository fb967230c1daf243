//! The binary itself: `serve --sandbox` prints a curl line that works as printed, `send` sends one
//! MMS and prints its UUID, and bad settings stop start-up with exit code 2 and one line.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::json;
use wiremock::matchers::{body_partial_json, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const BIN: &str = env!("CARGO_BIN_EXE_mms-gateway");

/// A command with a clean environment (no `.env` is read from the temporary working directory).
fn command(dir: &std::path::Path) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default());
    cmd
}

#[test]
fn serve_without_settings_exits_2_naming_the_variable() {
    let dir = tempfile::tempdir().unwrap();
    let out = command(dir.path()).arg("serve").output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        stderr.trim(),
        "error: PLIVO_AUTH_ID, PLIVO_AUTH_TOKEN and PLIVO_SENDER_NUMBER are not set (set them in the \
         environment or .env, or add --sandbox to try mms-gateway without a Plivo account)"
    );

    let out = command(dir.path())
        .arg("serve")
        .envs([
            ("PLIVO_AUTH_ID", "MAXXXXXXXXXXXXXXXXXX"),
            ("PLIVO_AUTH_TOKEN", "token"),
            ("PLIVO_SENDER_NUMBER", "+1415"),
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        stderr.trim(),
        r#"error: PLIVO_SENDER_NUMBER "+1415" is not a valid E.164 number"#
    );
}

#[tokio::test]
async fn the_sandbox_prints_a_curl_line_that_works_as_printed() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = command(dir.path())
        .args(["serve", "--sandbox"])
        .envs([("PORT", "0"), ("HOST", "127.0.0.1"), ("RUST_LOG", "warn")])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let curl = tokio::time::timeout(
        Duration::from_secs(30),
        tokio::task::spawn_blocking(move || {
            BufReader::new(stdout)
                .lines()
                .map_while(Result::ok)
                .find_map(|line| line.strip_prefix("try: ").map(str::to_owned))
        }),
    )
    .await
    .expect("the sandbox printed its curl line in time")
    .unwrap()
    .expect("a curl line");
    // The line is `curl -s URL -H '…' -d '…'`: run what it says with reqwest.
    let url = curl.split_whitespace().nth(2).unwrap().to_owned();
    let body = curl
        .split("-d '")
        .nth(1)
        .unwrap()
        .trim_end_matches('\'')
        .to_owned();
    let response = reqwest::Client::new()
        .post(&url)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await;
    let _ = child.kill();
    let _ = child.wait();
    let response = response.unwrap();
    assert_eq!(response.status(), 200);
    let json: serde_json::Value = response.json().await.unwrap();
    assert_eq!(json["message"], "MMS sent successfully.");
    assert!(
        dir.path().join("mms-gateway.db").exists(),
        "the default SQLite file is created"
    );
}

#[tokio::test]
async fn send_prints_the_uuid_or_exits_non_zero_with_one_line() {
    let plivo = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/Account/MAXXXXXXXXXXXXXXXXXX/Message/"))
        .and(body_partial_json(
            json!({"dst": "+14155551234", "text": "hi", "media_urls": ["https://e.com/a.gif"]}),
        ))
        .respond_with(ResponseTemplate::new(202).set_body_json(json!({
            "api_id": "a", "message": "message(s) queued", "message_uuid": ["cli-uuid-1"]
        })))
        .mount(&plivo)
        .await;
    Mock::given(method("POST"))
        .and(body_partial_json(json!({"dst": "+14155550001"})))
        .respond_with(
            ResponseTemplate::new(400)
                .set_body_json(json!({"error": "'14155550001' is not a valid phone number."})),
        )
        .mount(&plivo)
        .await;
    let dir = tempfile::tempdir().unwrap();
    let env = [
        ("PLIVO_AUTH_ID", "MAXXXXXXXXXXXXXXXXXX"),
        ("PLIVO_AUTH_TOKEN", "token"),
        ("PLIVO_SENDER_NUMBER", "+14155550100"),
        ("PLIVO_API_BASE_URL", plivo.uri().leak()),
    ];
    let run = |args: &'static [&'static str]| {
        let mut cmd = command(dir.path());
        cmd.arg("send").args(args).envs(env);
        tokio::task::spawn_blocking(move || cmd.output().unwrap())
    };

    let ok = run(&[
        "--to",
        "+14155551234",
        "--text",
        "hi",
        "--media",
        "https://e.com/a.gif",
    ])
    .await
    .unwrap();
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&ok.stdout).trim(), "cli-uuid-1");
    // The message is recorded in DATABASE_URL's store (here the default file), as a service on
    // the same store shows it.
    let id = recorded_id(&ok.stderr);
    let database_url = format!("sqlite://{}", dir.path().join("mms-gateway.db").display());
    let record = message_seen_by_a_service(&database_url, &plivo.uri(), &id).await;
    assert_eq!(record["status"], "queued", "{record}");
    assert_eq!(record["messageUuid"], "cli-uuid-1");
    assert_eq!(record["recipientNumber"], "+14155551234");
    assert_eq!(record["senderNumber"], "+14155550100");

    let refused = run(&["--to", "+14155550001", "--media", "https://e.com/a.gif"])
        .await
        .unwrap();
    assert_eq!(refused.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(stderr.contains("is not a valid phone number"), "{stderr}");

    let invalid = run(&["--to", "+1415", "--media", "https://e.com/a.gif"])
        .await
        .unwrap();
    assert_eq!(invalid.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&invalid.stderr).contains("invalid_phone_number"));
}

/// The id `send` reports on stderr (`recorded as message <id>`).
fn recorded_id(stderr: &[u8]) -> String {
    let stderr = String::from_utf8_lossy(stderr);
    stderr
        .lines()
        .find_map(|l| l.strip_prefix("recorded as message "))
        .unwrap_or_else(|| panic!("no message id on stderr: {stderr}"))
        .trim()
        .to_owned()
}

/// `GET /messages/{id}` of a service started on `database_url`.
async fn message_seen_by_a_service(
    database_url: &str,
    plivo_url: &str,
    id: &str,
) -> serde_json::Value {
    let vars = [
        ("PLIVO_AUTH_ID", "MAXXXXXXXXXXXXXXXXXX"),
        ("PLIVO_AUTH_TOKEN", "token"),
        ("PLIVO_SENDER_NUMBER", "+14155550100"),
        ("PLIVO_API_BASE_URL", plivo_url),
        ("DATABASE_URL", database_url),
        ("HOST", "127.0.0.1"),
        ("PORT", "0"),
    ];
    let config = mms_gateway::config::Config::from_lookup(false, |k| {
        vars.iter()
            .find(|(n, _)| *n == k)
            .map(|(_, v)| (*v).to_owned())
    })
    .expect("valid settings");
    let app = mms_gateway::startup::Application::build(config)
        .await
        .expect("the service starts on the same store");
    let url = format!("http://{}/messages/{id}", app.local_addr());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(app.run_until(async {
        let _ = stopped.await;
    }));
    let response = reqwest::get(&url).await.expect("the service answers");
    assert_eq!(response.status(), 200, "GET {url}");
    let record = response.json().await.expect("JSON");
    let _ = stop.send(());
    let _ = server.await;
    record
}

#[tokio::test]
async fn send_in_the_sandbox_needs_no_account_and_records_the_message() {
    let dir = tempfile::tempdir().unwrap();
    let database_url = format!("sqlite://{}", dir.path().join("cli.db").display());
    let mut cmd = command(dir.path());
    cmd.args([
        "send",
        "--sandbox",
        "--to",
        "+14155551234",
        "--media",
        "https://e.com/a.gif",
    ])
    .env("DATABASE_URL", &database_url);
    let out = tokio::task::spawn_blocking(move || cmd.output().unwrap())
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let uuid = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    assert_eq!(uuid.len(), 36, "one message UUID: {uuid:?}");
    let id = recorded_id(&out.stderr);
    let record = message_seen_by_a_service(&database_url, "http://127.0.0.1:9", &id).await;
    assert_eq!(record["status"], "queued", "{record}");
    assert_eq!(record["messageUuid"], uuid.as_str());
}
