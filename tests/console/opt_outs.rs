//! The opt-out list in the browser: add a number, see it listed (and refused by a send), remove it.

use serde_json::json;

use crate::browser::Browser;
use crate::sandbox;

#[tokio::test]
async fn an_opt_out_is_added_and_removed_from_the_page() {
    let Some(browser) = Browser::launch(1280, 900).await else {
        return;
    };
    let sandbox = sandbox::start(&[]).await;
    browser
        .open(&format!("{}#/opt-outs", sandbox.console()))
        .await;
    browser
        .wait_until(
            "the empty list",
            "!document.getElementById('opt-outs-empty').hidden",
        )
        .await;
    assert_eq!(
        browser
            .js(
                "return document.getElementById('nav-opt-outs').getAttribute('aria-current')",
                vec![]
            )
            .await,
        json!("page")
    );

    // A number that is not one: the API's own sentence.
    let input = browser.find("#opt-out-number").await;
    input.send_keys("12").await.unwrap();
    browser.click("#opt-out-add button[type=submit]").await;
    browser
        .wait_until(
            "the refusal",
            "document.getElementById('opt-out-result').classList.contains('error')",
        )
        .await;
    assert!(!browser.text("#opt-out-result").await.is_empty());

    // Add.
    let input = browser.find("#opt-out-number").await;
    input.clear().await.unwrap();
    input.send_keys("+14155551234").await.unwrap();
    browser.click("#opt-out-add button[type=submit]").await;
    let listed = "#opt-out-rows tr[data-number=\"+14155551234\"]";
    browser.find(listed).await;
    assert!(
        browser.text(listed).await.contains("api"),
        "the source is shown"
    );
    assert_eq!(
        browser.text("#opt-out-result").await,
        "+14155551234 opted out."
    );
    let (status, list) = sandbox.get("/opt-outs").await;
    assert_eq!(status, 200);
    assert_eq!(list["optOuts"][0]["number"], "+14155551234");
    assert_eq!(list["optOuts"][0]["source"], "api");

    // Remove, by keyboard-reachable button with a label naming the number.
    let remove = browser
        .find("#opt-out-rows button[aria-label='Remove the opt-out of +14155551234']")
        .await;
    remove.click().await.unwrap();
    browser
        .wait_until(
            "the row to go",
            &format!("!document.querySelector('{}')", listed.replace('\'', "\\'")),
        )
        .await;
    assert_eq!(
        browser.text("#opt-out-result").await,
        "+14155551234 removed from the opt-out list."
    );
    let (_, list) = sandbox.get("/opt-outs").await;
    assert_eq!(list["optOuts"], json!([]));
    browser.quit().await;
}
