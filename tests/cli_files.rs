//! `mms-gateway send --file PATH`: files uploaded to Plivo's Media API (here the built-in
//! simulator) and sent as media ids, or refused with one line before anything is uploaded.

mod support;

use std::process::Command;

use support::*;

const BIN: &str = env!("CARGO_BIN_EXE_mms-gateway");

#[tokio::test]
async fn send_uploads_files_then_sends_their_ids() {
    let sim = start(fast_config()).await;
    let dir = tempfile::tempdir().unwrap();
    let photo = dir.path().join("photo.png");
    std::fs::write(&photo, include_bytes!("fixtures/photo.png")).unwrap();
    let card = dir.path().join("ada.vcf");
    std::fs::write(
        &card,
        "BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Ada\r\nEND:VCARD\r\n",
    )
    .unwrap();
    let page = dir.path().join("page.png");
    std::fs::write(&page, "<!DOCTYPE html><html><body>x</body></html>").unwrap();
    let base = sim.base_url().to_string();
    let run = move |files: Vec<std::path::PathBuf>| {
        let mut cmd = Command::new(BIN);
        cmd.env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("PLIVO_AUTH_ID", AUTH_ID)
            .env("PLIVO_AUTH_TOKEN", TOKEN)
            .env("PLIVO_SENDER_NUMBER", "+14155550100")
            .env("PLIVO_API_BASE_URL", &base)
            .args(["send", "--to", "+14155551234", "--text", "hi"])
            .args(["--media", "https://e.com/a.gif"]);
        for f in files {
            cmd.arg("--file").arg(f);
        }
        tokio::task::spawn_blocking(move || cmd.output().unwrap())
    };

    let refused = run(vec![photo.clone(), page]).await.unwrap();
    assert_eq!(refused.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(stderr.contains("media_type_unsupported"), "{stderr}");
    assert_eq!(sim.state().uploaded_media_count(), 0, "nothing uploaded");
    assert!(sim.requests().is_empty(), "nothing sent");

    let ok = run(vec![photo, card]).await.unwrap();
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    assert_eq!(sim.state().uploaded_media_count(), 2);
    let sends = sim.requests();
    assert_eq!(sends.len(), 1);
    let ids = sends[0].body["media_ids"].as_array().unwrap();
    assert_eq!(ids.len(), 2);
    assert_eq!(
        sends[0].body["media_urls"],
        serde_json::json!(["https://e.com/a.gif"])
    );
    let uuid = String::from_utf8_lossy(&ok.stdout).trim().to_owned();
    assert!(uuid::Uuid::parse_str(&uuid).is_ok(), "{uuid}");
}
