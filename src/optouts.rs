//! Opt-outs: who asked not to be texted, how a reply is read as STOP or START, and the one check
//! every send path makes before anything is recorded or sent (`docs/api.md`, "Opt-outs").
//!
//! The list lives in the message store and is read on every send (one indexed lookup per
//! recipient), so an opt-out recorded by one instance is honoured by every instance sharing the
//! database from that moment on.

use chrono::Utc;

pub use crate::domain::normalize_number;
use crate::domain::OutboundMms;
use crate::metrics::Metrics;
use crate::store::{OptOutAction, OptOutChange, OptOutSource, Store, StoreError};

/// Whole-text keywords that opt a number out (compared trimmed, in any case, a trailing `.` or `!`
/// ignored).
pub const OPT_OUT_KEYWORDS: &[&str] = &[
    "STOP",
    "STOP ALL",
    "STOPALL",
    "UNSUBSCRIBE",
    "CANCEL",
    "END",
    "QUIT",
];

/// Whole-text keywords that opt a number back in.
pub const OPT_IN_KEYWORDS: &[&str] = &["START", "YES", "UNSTOP", "RESUME", "GO"];

/// What an inbound message asks for: Plivo's `MessageIntent` (`optout`, `optin`) when it gives one,
/// otherwise the keywords. `HELP` (or an intent of `help`), and any other text, ask for nothing.
pub fn requested_action(message_intent: Option<&str>, text: Option<&str>) -> Option<OptOutAction> {
    match message_intent.map(str::trim) {
        Some(intent) if intent.eq_ignore_ascii_case("optout") => return Some(OptOutAction::Optout),
        Some(intent) if intent.eq_ignore_ascii_case("optin") => return Some(OptOutAction::Optin),
        _ => {}
    }
    let text = text?.trim();
    let text = text
        .strip_suffix(['.', '!'])
        .unwrap_or(text)
        .trim_end()
        .to_ascii_uppercase();
    // "STOP  ALL" is STOP ALL: inner runs of blanks count as one space.
    let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if OPT_OUT_KEYWORDS.contains(&text.as_str()) {
        Some(OptOutAction::Optout)
    } else if OPT_IN_KEYWORDS.contains(&text.as_str()) {
        Some(OptOutAction::Optin)
    } else {
        None
    }
}

/// **The send paths' opt-out check**: which of `recipients` (E.164) are opted out, in the order
/// given. Call it before anything is recorded; a refused send counts in
/// `mms_gateway_sends_refused_opted_out_total` (one per refused recipient).
pub async fn opted_out_recipients(
    store: &Store,
    metrics: &Metrics,
    recipients: &[&str],
) -> Result<Vec<String>, StoreError> {
    let numbers: Vec<String> = recipients.iter().map(|r| (*r).to_owned()).collect();
    let listed = store.opted_out(&numbers).await?;
    let refused: Vec<String> = numbers.into_iter().filter(|n| listed.contains(n)).collect();
    for _ in &refused {
        metrics.record_send_refused_opted_out();
    }
    Ok(refused)
}

/// [`opted_out_recipients`] for the messages of one send: the ones that may go out, in order, and
/// the recipients left out.
pub async fn screen(
    store: &Store,
    metrics: &Metrics,
    messages: Vec<OutboundMms>,
) -> Result<(Vec<OutboundMms>, Vec<String>), StoreError> {
    let recipients: Vec<&str> = messages.iter().map(|m| m.to.as_str()).collect();
    let refused = opted_out_recipients(store, metrics, &recipients).await?;
    if refused.is_empty() {
        return Ok((messages, refused));
    }
    let kept = messages
        .into_iter()
        .filter(|m| !refused.iter().any(|r| r == m.to.as_str()))
        .collect();
    Ok((kept, refused))
}

/// Records a change (from the API, or Plivo's error 200) and counts it; returns whether anything
/// changed.
pub async fn change(
    store: &Store,
    metrics: &Metrics,
    number: &str,
    action: OptOutAction,
    source: OptOutSource,
) -> Result<bool, StoreError> {
    let change = OptOutChange {
        number: number.to_owned(),
        action,
        source,
        at: Utc::now(),
    };
    let changed = store.change_opt_out(&change).await?;
    if changed {
        metrics.record_opt_out_change(action, source);
    }
    Ok(changed)
}

/// What Plivo's error 200 (the destination opted out) teaches: call it for every state learned
/// from Plivo (status callback, Get or List Message) with that error code. `to` is the message's
/// recipient, E.164 or digits.
pub async fn learn_from_plivo_error(
    store: &Store,
    metrics: &Metrics,
    to: &str,
    error_code: Option<&str>,
) -> Result<(), StoreError> {
    if error_code.map(str::trim) != Some("200") {
        return Ok(());
    }
    let Some(number) = normalize_number(to) else {
        return Ok(());
    };
    if change(
        store,
        metrics,
        &number,
        OptOutAction::Optout,
        OptOutSource::PlivoError200,
    )
    .await?
    {
        tracing::info!(
            recipient = %crate::domain::mask(&number),
            "Plivo reported error 200: the recipient opted out; added to the opt-out list"
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keywords_are_whole_texts_in_any_case() {
        for text in [
            "STOP",
            "stop",
            " Stop ",
            "STOP.",
            "stop!",
            "Stop All",
            "stop  all",
            "STOPALL",
            "unsubscribe",
            "Cancel",
            "end",
            "QUIT!",
        ] {
            assert_eq!(
                requested_action(None, Some(text)),
                Some(OptOutAction::Optout),
                "{text:?}"
            );
        }
        for text in ["START", "yes", "Unstop.", "resume", "GO!"] {
            assert_eq!(
                requested_action(None, Some(text)),
                Some(OptOutAction::Optin),
                "{text:?}"
            );
        }
        for text in [
            "HELP",
            "please stop texting me",
            "stop it now",
            "STOP..",
            "S TOP",
            "",
            "nonstop",
        ] {
            assert_eq!(requested_action(None, Some(text)), None, "{text:?}");
        }
        assert_eq!(requested_action(None, None), None);
    }

    #[test]
    fn plivo_intent_wins() {
        assert_eq!(
            requested_action(Some("optout"), Some("whatever")),
            Some(OptOutAction::Optout)
        );
        assert_eq!(
            requested_action(Some("optin"), Some("STOP")),
            Some(OptOutAction::Optin)
        );
        assert_eq!(requested_action(Some("help"), Some("HELP")), None);
        assert_eq!(
            requested_action(Some(""), Some("stop")),
            Some(OptOutAction::Optout)
        );
    }

    #[test]
    fn numbers_with_or_without_plus() {
        assert_eq!(
            normalize_number("14155551234").as_deref(),
            Some("+14155551234")
        );
        assert_eq!(
            normalize_number("+14155551234").as_deref(),
            Some("+14155551234")
        );
        for bad in ["", "+", "1415", "+1415555123x", "abc", "++14155551234"] {
            assert_eq!(normalize_number(bad), None, "{bad:?}");
        }
    }
}
