//! Plivo webhook signatures, V3 and V2 (docs/plivo-api.md §5). Pure functions, no I/O.
//!
//! * **V3** signs the URL, the request parameters and a nonce:
//!   `base64(HMAC-SHA256(token, canonical_url + "." + nonce))`.
//! * **V2** signs only the URL without its query, followed directly by the nonce:
//!   `base64(HMAC-SHA256(token, scheme://host[:port]/path + nonce))`.
//!
//! A signature header may carry several comma-separated signatures; verification passes if any
//! one of them matches, compared in constant time.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use rand::Rng;
use sha2::Sha256;
use subtle::ConstantTimeEq;

type HmacSha256 = Hmac<Sha256>;

/// V3: base64(HMAC-SHA256(token, canonical_url + "." + nonce)) as docs/plivo-api.md §5.2 describes
/// (POST: sorted k+v concatenation, GET: merged sorted query; query percent-decoded; empty-valued
/// params count, e.g. `ErrorCode=` contributes `ErrorCode`).
///
/// `params` are the request's parameters as decoded by the web framework (POST form fields, or
/// for GET any parameters not already in `url`'s query). Repeated keys are allowed: each value is
/// its own entry, sorted by key then value.
pub fn v3_signature(
    method: &str,
    url: &str,
    params: &[(String, String)],
    nonce: &str,
    auth_token: &str,
) -> String {
    let message = format!("{}.{nonce}", v3_canonical_url(method, url, params));
    hmac_base64(auth_token, &message)
}

/// true if any comma-separated signature in `header_value` matches, compared in constant time
/// (crate `subtle`).
pub fn verify_v3(
    method: &str,
    url: &str,
    params: &[(String, String)],
    nonce: &str,
    header_value: &str,
    auth_token: &str,
) -> bool {
    let expected = v3_signature(method, url, params, nonce, auth_token);
    any_matches(&expected, header_value)
}

/// V2: `base64(HMAC-SHA256(token, url_without_query + nonce))`. The query string and fragment
/// of `url` are dropped; nothing separates the URL from the nonce.
pub fn v2_signature(url: &str, nonce: &str, auth_token: &str) -> String {
    let (base, _) = split_url(url);
    hmac_base64(auth_token, &format!("{base}{nonce}"))
}

/// true if any comma-separated signature in `header_value` is the V2 signature of `url` and
/// `nonce`, compared in constant time.
pub fn verify_v2(url: &str, nonce: &str, header_value: &str, auth_token: &str) -> bool {
    let expected = v2_signature(url, nonce, auth_token);
    any_matches(&expected, header_value)
}

/// A fresh 20-digit decimal nonce, like the ones Plivo sends.
pub fn new_nonce() -> String {
    let mut rng = rand::thread_rng();
    (0..20)
        .map(|_| char::from(b'0' + rng.gen_range(0..10u8)))
        .collect()
}

/// The string V3 signs before `"." + nonce` is appended.
fn v3_canonical_url(method: &str, url: &str, params: &[(String, String)]) -> String {
    let (base, query) = split_url(url);
    let query_pairs: Vec<(String, String)> = form_urlencoded::parse(query.as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();

    if method.eq_ignore_ascii_case("GET") {
        // Merge: a key given in `params` takes its values from there (as plivo-go/java/ruby do).
        let mut merged: Vec<(&str, &str)> = query_pairs
            .iter()
            .filter(|(k, _)| !params.iter().any(|(pk, _)| pk == k))
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        merged.extend(params.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        merged.sort_unstable();
        if merged.is_empty() {
            return base.to_owned();
        }
        let qs = join_query(&merged);
        return format!("{base}?{qs}");
    }

    let mut query_sorted: Vec<(&str, &str)> = query_pairs
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    query_sorted.sort_unstable();
    let mut canonical = base.to_owned();
    if params.is_empty() {
        if !query_sorted.is_empty() {
            canonical.push('?');
            canonical.push_str(&join_query(&query_sorted));
        }
        return canonical;
    }
    canonical.push('?');
    if !query_sorted.is_empty() {
        canonical.push_str(&join_query(&query_sorted));
        canonical.push('.');
    }
    let mut sorted: Vec<(&str, &str)> = params
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    sorted.sort_unstable();
    for (k, v) in sorted {
        canonical.push_str(k);
        canonical.push_str(v);
    }
    canonical
}

/// `k=v` pairs joined with `&`, without any encoding (as Plivo signs them).
fn join_query(pairs: &[(&str, &str)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&")
}

/// Splits `url` into the part before `?` (kept byte for byte) and the raw query; the fragment is
/// dropped.
fn split_url(url: &str) -> (&str, &str) {
    let without_fragment = url.split_once('#').map_or(url, |(u, _)| u);
    without_fragment
        .split_once('?')
        .unwrap_or((without_fragment, ""))
}

fn hmac_base64(key: &str, message: &str) -> String {
    // HMAC accepts keys of any length, so this never fails.
    let mut mac = match HmacSha256::new_from_slice(key.as_bytes()) {
        Ok(mac) => mac,
        Err(_) => return String::new(),
    };
    mac.update(message.as_bytes());
    STANDARD.encode(mac.finalize().into_bytes())
}

fn any_matches(expected: &str, header_value: &str) -> bool {
    if expected.is_empty() {
        return false;
    }
    header_value
        .split(',')
        .map(str::trim)
        .fold(false, |found, candidate| {
            found | bool::from(candidate.as_bytes().ct_eq(expected.as_bytes()))
        })
}

#[cfg(test)]
#[path = "signature_tests.rs"]
mod tests;
