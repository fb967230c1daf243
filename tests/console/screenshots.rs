//! The screenshots in docs/ (`docs/console-*.png`), taken with the same headless Chromium against
//! a sandbox with a few messages. Not part of `cargo test`: run `scripts/console-screenshots.sh`.

use std::path::PathBuf;

use crate::browser::Browser;
use crate::sandbox::{self, Sandbox};

fn docs(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("docs")
        .join(name)
}

async fn shoot(browser: &Browser, name: &str) {
    // Let the refresh settle (and no caret blink into the picture).
    tokio::time::sleep(std::time::Duration::from_millis(400)).await;
    let png = browser.client.screenshot().await.expect("a screenshot");
    std::fs::write(docs(name), png).expect("docs/ is writable");
    eprintln!("wrote docs/{name}");
}

async fn some_traffic(sandbox: &Sandbox) -> String {
    let delivered = sandbox.send_with_callback("+14155551234").await;
    for to in [
        "+14155550010",
        "+14155550011",
        "+16475550199",
        "+14155552671",
    ] {
        sandbox.send(to).await;
    }
    sandbox
        .wait_for_message(&delivered, "delivered", |r| {
            r["status"] == "delivered"
                && r["callbackAttempts"]
                    .as_array()
                    .is_some_and(|a| a.len() >= 4)
        })
        .await;
    // Let the other ones end too.
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    delivered
}

#[tokio::test]
#[ignore = "writes docs/console-*.png; run scripts/console-screenshots.sh"]
async fn screenshots_of_each_view() {
    let Some(browser) = Browser::launch(1280, 860).await else {
        return;
    };
    let sandbox = sandbox::start(&[]).await;
    let delivered = some_traffic(&sandbox).await;
    let console = sandbox.console();

    browser.open(&console).await;
    browser.wait_for_count("the log", "#log-rows tr", 5).await;
    shoot(&browser, "console-messages.png").await;

    browser
        .open(&format!("{console}#/messages/{delivered}"))
        .await;
    browser
        .wait_until(
            "the caller's events",
            "document.querySelectorAll('#attempt-rows tr').length >= 4",
        )
        .await;
    shoot(&browser, "console-message.png").await;

    let (status, _) = sandbox.get("/opt-outs").await;
    if status == 200 {
        for number in ["+14155552671", "+16475550199"] {
            let _ = reqwest::Client::new()
                .put(format!(
                    "{}/opt-outs/{}",
                    sandbox.address,
                    number.replace('+', "%2B")
                ))
                .send()
                .await;
        }
        browser.open(&format!("{console}#/opt-outs")).await;
        browser
            .wait_for_count("the opt-outs", "#opt-out-rows tr", 2)
            .await;
        shoot(&browser, "console-opt-outs.png").await;
    } else {
        eprintln!("no docs/console-opt-outs.png: this service has no GET /opt-outs ({status})");
    }

    browser.client.set_window_size(390, 844).await.unwrap();
    browser.open(&format!("{console}#/messages")).await;
    browser.wait_for_count("the log", "#log-rows tr", 5).await;
    shoot(&browser, "console-phone.png").await;
    browser.quit().await;

    let Some(browser) = Browser::launch(1280, 600).await else {
        return;
    };
    let locked = sandbox::start(&[("API_KEYS", "a-key-for-screenshots-0123")]).await;
    browser.open(&locked.console()).await;
    let input = browser.find("#key-input").await;
    input.send_keys("wrong-key").await.unwrap();
    browser.click("#key-form button[type=submit]").await;
    browser
        .wait_until(
            "the wrong-key message",
            "!document.getElementById('key-error').hidden",
        )
        .await;
    shoot(&browser, "console-key.png").await;
    browser.quit().await;
}
