//! The one verifier of Plivo's webhooks (status callbacks, inbound messages): signature first, then
//! strict parsing, then the V2 nonce, before a handler changes anything.
//!
//! * A request carrying any V3 header (`X-Plivo-Signature-V3`, `-Ma-V3`, `-V3-Nonce`) is judged by
//!   V3 alone; only a request with none may pass with V2 (`docs/plivo-api.md` §5).
//! * The V2 nonce of every accepted request is recorded as used, whichever signature passed, so
//!   the V2 headers of a callback that passed on V3 cannot be replayed later with another body. A
//!   V2-only request whose nonce was used is refused. V3 nonces are not single-use: V3 signs the
//!   parameters, and the strict parsing (`crate::plivo::webhook_params`) stops a signed string
//!   from being split into other parameters.
//! * Parameters that do not parse as Plivo sends them: `400 invalid_callback`, nothing recorded.
//!
//! Handlers call [`verify`] with their path and their kind's parser, apply the change, then
//! [`Verified::keep_nonce_with`] so the nonce lives as long as the message it changed.

use axum::http::{HeaderMap, StatusCode, Uri};
use chrono::Utc;
use secrecy::ExposeSecret;

use crate::api_error::ApiError;
use crate::http::AppState;
use crate::plivo::signature::{verify_v2, verify_v3};
use crate::plivo::webhook_params::InvalidParam;

/// Which signature a request passed with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signature {
    /// `X-Plivo-Signature-V3` or `-Ma-V3`.
    V3,
    /// `X-Plivo-Signature-V2` or `-Ma-V2` (the request carried no V3 header).
    V2,
}

/// A webhook whose signature passed and whose parameters parsed.
#[derive(Debug)]
pub struct Verified<T> {
    /// The parsed parameters.
    pub params: T,
    /// The signature that passed.
    pub signature: Signature,
    v2_nonce: Option<String>,
}

impl<T> Verified<T> {
    /// Keeps the request's V2 nonce (if it had one) as long as the message whose Plivo UUID is
    /// `message_uuid`; call it once the change is stored. A failure is logged, not returned: the
    /// nonce is used either way and only its lifetime is at stake.
    pub async fn keep_nonce_with(&self, state: &AppState, message_uuid: &str) {
        let Some(nonce) = &self.v2_nonce else { return };
        if let Err(e) = state.delivery.store().link_nonce(nonce, message_uuid).await {
            tracing::warn!(error = %e, "could not link a used webhook nonce to its message");
        }
    }
}

/// Verifies a form-encoded webhook posted to `path` (e.g. `/webhooks/plivo/status`) and parses its
/// parameters with `parse`.
///
/// Fails with `403 invalid_signature` (missing or wrong signature, or a V2 nonce already used),
/// `400 invalid_callback` (`parse` refused the parameters; `field` names the parameter) or `503`
/// (the store did not answer). Nothing is recorded unless it succeeds.
pub async fn verify<T>(
    state: &AppState,
    path: &str,
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
    parse: impl FnOnce(&[(String, String)]) -> Result<T, InvalidParam>,
) -> Result<Verified<T>, ApiError> {
    let pairs: Vec<(String, String)> = form_urlencoded::parse(body).into_owned().collect();
    let url = signed_url(state, path, uri, headers);
    let token = state.config.plivo.auth_token.expose_secret();
    let signature = check_signature(token, &url, &pairs, headers)?;
    let params = parse(&pairs).map_err(|e| {
        tracing::warn!(
            webhook = path,
            param = %e.name,
            "signed Plivo webhook with parameters Plivo would not send; refused"
        );
        invalid_callback(&e)
    })?;
    let v2_nonce = header(headers, "x-plivo-signature-v2-nonce").map(str::to_owned);
    if let Some(nonce) = &v2_nonce {
        let fresh = state.delivery.store().use_nonce(nonce, Utc::now()).await?;
        if !fresh && signature == Signature::V2 {
            tracing::warn!(
                webhook = path,
                "V2-signed webhook with a nonce already used; refused"
            );
            return Err(forbidden());
        }
    }
    Ok(Verified {
        params,
        signature,
        v2_nonce,
    })
}

/// The URL Plivo signed: `{PUBLIC_BASE_URL}{path}` (plus the query, if any); without
/// `PUBLIC_BASE_URL`, the request's own `Host`.
fn signed_url(state: &AppState, path: &str, uri: &Uri, headers: &HeaderMap) -> String {
    let base = match &state.config.public_base_url {
        Some(base) => base.as_str().trim_end_matches('/').to_owned(),
        None => {
            let host = header(headers, axum::http::header::HOST.as_str()).unwrap_or("localhost");
            format!("http://{host}")
        }
    };
    match uri.query() {
        Some(q) => format!("{base}{path}?{q}"),
        None => format!("{base}{path}"),
    }
}

/// V3 alone when any V3 header is present; otherwise V2.
fn check_signature(
    token: &str,
    url: &str,
    params: &[(String, String)],
    headers: &HeaderMap,
) -> Result<Signature, ApiError> {
    let v3 = [
        header(headers, "x-plivo-signature-v3"),
        header(headers, "x-plivo-signature-ma-v3"),
    ];
    let v3_nonce = header(headers, "x-plivo-signature-v3-nonce");
    if v3.iter().any(Option::is_some) || headers.contains_key("x-plivo-signature-v3-nonce") {
        let nonce = v3_nonce.ok_or_else(forbidden)?;
        let ok = v3
            .into_iter()
            .flatten()
            .any(|sig| verify_v3("POST", url, params, nonce, sig, token));
        return if ok {
            Ok(Signature::V3)
        } else {
            Err(forbidden())
        };
    }
    let nonce = header(headers, "x-plivo-signature-v2-nonce").ok_or_else(forbidden)?;
    let ok = [
        header(headers, "x-plivo-signature-v2"),
        header(headers, "x-plivo-signature-ma-v2"),
    ]
    .into_iter()
    .flatten()
    .any(|sig| verify_v2(url, nonce, sig, token));
    if ok {
        Ok(Signature::V2)
    } else {
        Err(forbidden())
    }
}

fn header<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

fn forbidden() -> ApiError {
    ApiError::new(
        StatusCode::FORBIDDEN,
        "invalid_signature",
        "The request does not carry a valid Plivo signature.",
    )
}

fn invalid_callback(e: &InvalidParam) -> ApiError {
    ApiError::bad_request(
        "invalid_callback",
        format!(
            "The callback's parameter {} {}; Plivo does not send it this way.",
            e.name, e.problem
        ),
    )
    .with_field(e.name.clone())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plivo::signature::{new_nonce, v2_signature, v3_signature};

    const TOKEN: &str = "token";
    const URL: &str = "https://mms.example.com/webhooks/plivo/status";

    fn params() -> Vec<(String, String)> {
        vec![("Status".to_owned(), "sent".to_owned())]
    }

    fn headers(list: &[(&'static str, String)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in list {
            h.insert(*k, v.parse().expect("header value"));
        }
        h
    }

    #[test]
    fn a_valid_v2_signature_does_not_rescue_a_request_with_a_v3_header() {
        let n2 = new_nonce();
        let v2 = v2_signature(URL, &n2, TOKEN);
        for v3_header in [
            ("x-plivo-signature-v3", "bogus".to_owned()),
            ("x-plivo-signature-ma-v3", "bogus".to_owned()),
            ("x-plivo-signature-v3-nonce", new_nonce()),
        ] {
            let h = headers(&[
                v3_header,
                ("x-plivo-signature-v2", v2.clone()),
                ("x-plivo-signature-v2-nonce", n2.clone()),
            ]);
            assert!(check_signature(TOKEN, URL, &params(), &h).is_err());
        }
    }

    #[test]
    fn v3_and_v2_pass_on_their_own() {
        let n3 = new_nonce();
        let v3 = v3_signature("POST", URL, &params(), &n3, TOKEN);
        let h = headers(&[
            ("x-plivo-signature-ma-v3", format!("x,{v3}")),
            ("x-plivo-signature-v3-nonce", n3),
        ]);
        assert_eq!(
            check_signature(TOKEN, URL, &params(), &h),
            Ok(Signature::V3)
        );
        let n2 = new_nonce();
        let h = headers(&[
            ("x-plivo-signature-v2", v2_signature(URL, &n2, TOKEN)),
            ("x-plivo-signature-v2-nonce", n2),
        ]);
        assert_eq!(
            check_signature(TOKEN, URL, &params(), &h),
            Ok(Signature::V2)
        );
        assert!(check_signature(TOKEN, URL, &params(), &HeaderMap::new()).is_err());
    }
}
