//! With `API_KEYS`, the console asks for a key, refuses a wrong one clearly, and keeps the right
//! one only for the tab (sessionStorage), never in localStorage, a cookie or the URL.

use fantoccini::key::Key;
use serde_json::json;

use crate::browser::Browser;
use crate::sandbox;

const KEY: &str = "console-key-0123456789";

#[tokio::test]
async fn with_api_keys_the_console_asks_for_a_key_and_refuses_a_wrong_one() {
    let Some(browser) = Browser::launch(1280, 900).await else {
        return;
    };
    let sandbox = sandbox::start(&[("API_KEYS", &format!("{KEY},another-key-0123456789"))]).await;
    let id = sandbox.send("+14155551234").await;
    browser.open(&sandbox.console()).await;

    // Asked for a key, shown nothing.
    browser
        .wait_until(
            "the key prompt",
            "!document.getElementById('view-key').hidden",
        )
        .await;
    assert!(browser
        .text("#key-why")
        .await
        .contains("requires an API key"));
    assert_eq!(browser.text("#stat-depth").await, "–");
    assert!(!browser.visible("#view-messages").await);
    let focused = browser.js("return document.activeElement.id", vec![]).await;
    assert_eq!(focused, json!("key-input"), "the prompt takes the focus");
    let label = browser
        .js(
            "return document.querySelector('label[for=key-input]').textContent",
            vec![],
        )
        .await;
    assert!(label.as_str().unwrap().contains("API key"));

    // A wrong key: a clear message, still no data.
    let input = browser.find("#key-input").await;
    input.send_keys("not-the-key").await.unwrap();
    input.send_keys(&Key::Enter.to_string()).await.unwrap();
    browser
        .wait_until(
            "the wrong-key message",
            "!document.getElementById('key-error').hidden",
        )
        .await;
    assert_eq!(
        browser.text("#key-error").await,
        "Wrong API key: check it and try again."
    );
    assert!(browser
        .text("#key-why")
        .await
        .contains("refused (401 unauthorized)"));
    assert!(!browser.visible("#view-messages").await);
    let stored = browser
        .js(
            "return sessionStorage.getItem('mms-gateway.apiKey')",
            vec![],
        )
        .await;
    assert_eq!(stored, json!(null), "a refused key is not kept");

    // The right key: the data, and the key kept for this tab only.
    let input = browser.find("#key-input").await;
    input.clear().await.unwrap();
    input.send_keys(KEY).await.unwrap();
    browser.click("#key-form button[type=submit]").await;
    browser
        .find(&format!("#log-rows tr[data-id=\"{id}\"]"))
        .await;
    browser
        .wait_until(
            "the header's numbers",
            "document.querySelector('[data-count=queued]') !== null",
        )
        .await;
    assert!(!browser.visible("#view-key").await);
    let kept = browser
        .js(
            "return [sessionStorage.getItem('mms-gateway.apiKey'), localStorage.length, document.cookie, location.href]",
            vec![],
        )
        .await;
    assert_eq!(kept[0], json!(KEY));
    assert_eq!(kept[1], json!(0), "nothing in localStorage");
    assert_eq!(kept[2], json!(""), "no cookie");
    assert!(!kept[3].as_str().unwrap().contains(KEY), "not in the URL");

    // Every request of the page sends it: a message's page loads too.
    browser.open_message(&sandbox.console(), &id).await;

    // Forgetting the key asks again.
    browser.click("#forget-key").await;
    browser
        .wait_until(
            "the key prompt again",
            "!document.getElementById('view-key').hidden",
        )
        .await;
    let stored = browser
        .js(
            "return sessionStorage.getItem('mms-gateway.apiKey')",
            vec![],
        )
        .await;
    assert_eq!(stored, json!(null));
    browser.quit().await;
}
