//! The message log, a message's page, the header's numbers and Resend, in the browser.

use fantoccini::key::Key;
use serde_json::json;

use crate::browser::Browser;
use crate::sandbox;

/// The CSS selector of the log's row for message `id`.
fn row(id: &str) -> String {
    format!("#log-rows tr[data-id=\"{id}\"]")
}

#[tokio::test]
async fn a_message_sent_through_the_api_appears_reaches_delivered_and_opens() {
    let Some(browser) = Browser::launch(1280, 900).await else {
        return;
    };
    let sandbox = sandbox::start(&[]).await;
    browser.open(&sandbox.console()).await;
    browser
        .wait_until(
            "the header's numbers",
            "document.getElementById('stat-depth').textContent === '0'",
        )
        .await;
    assert_eq!(browser.text("#stat-oldest").await, "none");
    assert!(browser.visible("#view-messages").await);
    assert!(
        browser.visible("#log-empty").await,
        "an empty store says so"
    );

    let id = sandbox.send_with_callback("+14155551234").await;

    // The log refreshes by itself: the row appears, then reaches delivered.
    browser.find(&row(&id)).await;
    browser
        .wait_until(
            "the row to show delivered",
            &format!(
                "document.querySelector('{} .badge').textContent === 'delivered'",
                row(&id).replace('\'', "\\'")
            ),
        )
        .await;
    let line = browser.text(&row(&id)).await;
    assert!(
        line.contains("+14155551234") && line.contains("Hello +14155551234"),
        "{line}"
    );
    assert!(line.contains("outbound"), "{line}");
    // The header counts it (refreshed every 3 s, announced politely).
    browser
        .wait_until(
            "delivered counted in the header",
            "document.querySelector('[data-count=delivered]').textContent === '1'",
        )
        .await;
    let live = browser
        .js(
            "return document.querySelector('#stat-statuses').getAttribute('aria-live')",
            vec![],
        )
        .await;
    assert_eq!(live, json!("polite"));

    // Open it from the keyboard: the row's link, Enter.
    let link = browser.find(&format!("{} a", row(&id))).await;
    link.send_keys(&Key::Enter.to_string()).await.unwrap();
    browser
        .wait_until(
            "the message's page",
            &format!("location.hash === '#/messages/{id}'"),
        )
        .await;
    browser
        .wait_until(
            "its fields",
            "document.querySelector('[data-field=recipientNumber]')",
        )
        .await;
    assert!(browser.visible("#view-message").await);
    assert!(!browser.visible("#view-messages").await);
    assert_eq!(
        browser.text("#message-title").await,
        format!("Message {id}")
    );
    assert_eq!(
        browser.text("[data-field=recipientNumber]").await,
        "+14155551234"
    );
    assert_eq!(
        browser.text("[data-field=senderNumber]").await,
        "+14155550100"
    );
    assert_eq!(
        browser.text("[data-field=mediaUrls]").await,
        "https://example.com/cat.gif"
    );
    assert_eq!(browser.text("#message-status").await, "delivered");
    assert!(
        !browser.visible("#resend").await,
        "a delivered message is not resendable"
    );
    let timeline = browser.text("#message-events").await;
    let mut at = 0;
    for status in ["accepted", "sending", "queued", "sent", "delivered"] {
        let found = timeline[at..]
            .find(status)
            .unwrap_or_else(|| panic!("{status} in {timeline}"));
        at += found + status.len();
    }

    // Its status events to the caller, every attempt with the caller's answer.
    browser
        .wait_until(
            "the caller's events",
            "document.querySelectorAll('#attempt-rows tr').length >= 4",
        )
        .await;
    let attempts = browser.text("#attempt-rows").await;
    assert!(attempts.contains("204"), "{attempts}");
    for status in ["queued", "sent", "delivered"] {
        assert!(attempts.contains(status), "{status} in {attempts}");
    }

    // And back to the log.
    browser.click("#back-to-log").await;
    browser.find(&row(&id)).await;
    browser.quit().await;
}

#[tokio::test]
async fn the_log_filters_by_status_direction_and_number_and_pages_with_the_cursor() {
    let Some(browser) = Browser::launch(1280, 900).await else {
        return;
    };
    let sandbox = sandbox::start(&[]).await;
    let undelivered = sandbox.send("+14155550010").await;
    // 26 more: one more than a page.
    let mut ids = Vec::new();
    for n in 0..26 {
        ids.push(sandbox.send(&format!("+1415555{:04}", 1200 + n)).await);
    }
    sandbox
        .wait_for_message(&undelivered, "ended undelivered", |r| {
            r["status"] == "undelivered"
        })
        .await;
    browser.open(&sandbox.console()).await;

    // Newest first, 25 a page; Next follows nextCursor, Previous and Newest go back.
    browser
        .wait_for_count("a full page", "#log-rows tr", 25)
        .await;
    let first = browser
        .js(
            "return document.querySelector('#log-rows tr').dataset.id",
            vec![],
        )
        .await;
    assert_eq!(first, json!(ids[25]), "newest first");
    browser.click("#log-next").await;
    browser
        .wait_for_count("the second page", "#log-rows tr", 2)
        .await;
    browser.find(&row(&undelivered)).await;
    assert_eq!(browser.text("#log-page").await, "Page 2");
    let next_disabled = browser
        .js(
            "return document.getElementById('log-next').disabled",
            vec![],
        )
        .await;
    assert_eq!(next_disabled, json!(true), "no page after the last");
    browser.click("#log-prev").await;
    browser
        .wait_for_count("the first page again", "#log-rows tr", 25)
        .await;

    // Status filter.
    browser
        .find("#filter-status")
        .await
        .select_by_value("undelivered")
        .await
        .unwrap();
    browser.click("#filters button[type=submit]").await;
    browser
        .wait_for_count("only the undelivered one", "#log-rows tr", 1)
        .await;
    browser.find(&row(&undelivered)).await;
    let hash = browser.js("return location.hash", vec![]).await;
    assert_eq!(hash, json!("#/messages?status=undelivered"));

    // Number filter (status cleared), typed and submitted with Enter.
    browser
        .find("#filter-status")
        .await
        .select_by_value("")
        .await
        .unwrap();
    let number = browser.find("#filter-number").await;
    number.send_keys("+14155551203").await.unwrap();
    number.send_keys(&Key::Enter.to_string()).await.unwrap();
    browser
        .wait_until("only that number's message", &format!(
            "document.querySelectorAll('#log-rows tr').length === 1 && document.querySelector('#log-rows tr').dataset.id === '{}'",
            ids[3]
        ))
        .await;

    // Direction: every message here is outbound; inbound ones there are none.
    browser.click("#filters-clear").await;
    browser
        .wait_for_count("the whole log again", "#log-rows tr", 25)
        .await;
    browser
        .find("#filter-direction")
        .await
        .select_by_value("outbound")
        .await
        .unwrap();
    browser.click("#filters button[type=submit]").await;
    browser
        .wait_until(
            "the outbound filter",
            "location.hash === '#/messages?direction=outbound'",
        )
        .await;
    browser
        .wait_for_count("outbound messages", "#log-rows tr", 25)
        .await;

    // A status count in the header is a link to that filter.
    browser
        .click("#stat-statuses a[href='#/messages?status=undelivered']")
        .await;
    browser
        .wait_for_count("the header's link to the filter", "#log-rows tr", 1)
        .await;
    assert_eq!(
        browser
            .js(
                "return document.getElementById('filter-status').value",
                vec![]
            )
            .await,
        json!("undelivered")
    );
    browser.quit().await;
}

#[tokio::test]
async fn on_a_phone_screen_the_log_needs_no_sideways_scrolling() {
    let Some(browser) = Browser::launch(390, 844).await else {
        return;
    };
    let sandbox = sandbox::start(&[]).await;
    let id = sandbox.send_with_callback("+14155551234").await;
    browser.open(&sandbox.console()).await;
    browser.find(&row(&id)).await;
    let fits = "document.documentElement.scrollWidth <= window.innerWidth";
    browser.wait_until("the log to fit the width", fits).await;
    browser.open_message(&sandbox.console(), &id).await;
    browser
        .wait_until("the message's page to fit the width", fits)
        .await;
    browser.quit().await;
}

#[tokio::test]
async fn a_failed_message_is_resent_from_its_page() {
    let Some(browser) = Browser::launch(1280, 900).await else {
        return;
    };
    let sandbox = sandbox::start(&[]).await;
    // The simulator fails this one: queued → failed (ErrorCode 120).
    let id = sandbox.send("+14155550011").await;
    sandbox
        .wait_for_message(&id, "failed", |r| r["status"] == "failed")
        .await;
    browser
        .open(&format!("{}#/messages/{id}", sandbox.console()))
        .await;
    browser
        .wait_until(
            "the Resend button",
            "!document.getElementById('resend').hidden",
        )
        .await;
    assert_eq!(browser.text("[data-field=errorCode]").await, "120");
    browser.click("#resend").await;
    let new_id = browser.find("#resent-as").await.text().await.unwrap();
    assert_ne!(new_id, id);
    // The old record lists the new one; the new one points back and goes its own way.
    browser
        .wait_until("resentAs on the old record", &format!(
            "document.querySelector('[data-field=resentAs]') && document.querySelector('[data-field=resentAs]').textContent.includes('{new_id}')"
        ))
        .await;
    let (_, new_record) = sandbox.get(&format!("/messages/{new_id}")).await;
    assert_eq!(new_record["resendOf"], json!(id));
    assert_eq!(new_record["recipientNumber"], "+14155550011");
    browser.click("#resent-as").await;
    browser
        .wait_until(
            "the new message's page",
            &format!("location.hash === '#/messages/{new_id}'"),
        )
        .await;
    browser
        .wait_until("resendOf on the new one", &format!(
            "document.querySelector('[data-field=resendOf]') && document.querySelector('[data-field=resendOf]').textContent === '{id}'"
        ))
        .await;

    // A delivered message shows no Resend button; the API's refusal is shown if one is forced.
    let delivered = sandbox.send("+14155551234").await;
    sandbox
        .wait_for_message(&delivered, "delivered", |r| r["status"] == "delivered")
        .await;
    browser.open_message(&sandbox.console(), &delivered).await;
    assert!(!browser.visible("#resend").await);
    browser
        .js("document.getElementById('resend').hidden = false", vec![])
        .await;
    browser.click("#resend").await;
    browser
        .wait_until(
            "the refusal",
            "document.getElementById('resend-result').textContent.startsWith('Not resent:')",
        )
        .await;
    browser.quit().await;
}
