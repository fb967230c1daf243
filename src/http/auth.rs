//! API keys (`API_KEYS`, docs/api.md, "Conventions"): who is calling, and the `401` for protected endpoints
//! without a valid `Authorization: Bearer <key>`.
//!
//! Keys are kept only as SHA-256 digests and compared in constant time (digests have one length,
//! so neither a key's content nor its length shows in timing). Keys are never logged.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use axum::extract::{ConnectInfo, Request};
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::api_error::ApiError;
use crate::config::ops::ApiKeys;

/// Who is calling: an API key (by its position in `API_KEYS`, never the key itself) or, without
/// a valid key, the client's address. Put in the request's extensions by the gate (`gate.rs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Caller {
    /// The n-th key of `API_KEYS`.
    Key(usize),
    /// No valid key: the address the request came from.
    Address(IpAddr),
}

/// Checks presented keys against `API_KEYS`.
#[derive(Clone, Default)]
pub struct Authenticator {
    digests: Vec<[u8; 32]>,
}

impl std::fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Authenticator({} keys)", self.digests.len())
    }
}

fn digest(value: &str) -> [u8; 32] {
    Sha256::digest(value.as_bytes()).into()
}

impl Authenticator {
    /// Keeps the digests of `keys`.
    pub fn new(keys: &ApiKeys) -> Self {
        Self {
            digests: keys.iter().map(digest).collect(),
        }
    }

    /// Whether keys are required at all.
    pub fn enabled(&self) -> bool {
        !self.digests.is_empty()
    }

    /// Whether `caller` may reach a protected endpoint: keys are not required, or it sent one.
    pub fn admits(&self, caller: Caller) -> bool {
        !self.enabled() || matches!(caller, Caller::Key(_))
    }

    /// The position of the key `presented` in `API_KEYS`, comparing with every key in constant time.
    pub fn find(&self, presented: &str) -> Option<usize> {
        let presented = digest(presented);
        let mut found = None;
        for (i, known) in self.digests.iter().enumerate() {
            let equal: bool = known.ct_eq(&presented).into();
            if equal && found.is_none() {
                found = Some(i);
            }
        }
        found
    }

    /// The scope of the `Idempotency-Key`s `caller` sends: a name derived from its API key's
    /// digest (stable when `API_KEYS` is reordered, and not the key), or `None` without keys.
    pub fn idempotency_scope(&self, caller: Caller) -> Option<String> {
        let Caller::Key(i) = caller else { return None };
        let digest = self.digests.get(i)?;
        let mut scope = Sha256::new();
        scope.update(b"mms-gateway idempotency scope\0");
        scope.update(digest);
        let scope = scope.finalize();
        Some(scope[..12].iter().map(|b| format!("{b:02x}")).collect())
    }

    /// Who sent a request with these headers from `peer`.
    pub fn caller(&self, headers: &HeaderMap, peer: IpAddr) -> Caller {
        bearer_token(headers)
            .and_then(|token| self.find(token))
            .map_or(Caller::Address(peer), Caller::Key)
    }
}

/// The token of an `Authorization: Bearer <token>` header (scheme case-insensitive).
fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?.trim();
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

/// The client's address (from the connection), or 0.0.0.0 when the server gives none.
pub fn peer_ip(request: &Request) -> IpAddr {
    request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |ConnectInfo(addr)| {
            addr.ip()
        })
}

/// The `401 unauthorized` answer for a protected endpoint without a valid key.
pub fn unauthorized() -> Response {
    let mut response = ApiError::unauthorized().into_response();
    response.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Bearer realm=\"mms-gateway\""),
    );
    response
}

/// What the start-up banner adds to its `curl` line when keys are required.
pub fn curl_auth_args(keys_required: bool) -> &'static str {
    if keys_required {
        " -H \"Authorization: Bearer $MMS_GATEWAY_API_KEY\""
    } else {
        ""
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::SecretString;

    fn auth() -> Authenticator {
        Authenticator::new(&ApiKeys::new(vec![
            SecretString::from("first-key-0123456789".to_owned()),
            SecretString::from("second-key-0123456789".to_owned()),
        ]))
    }

    #[test]
    fn finds_keys_and_only_keys() {
        let a = auth();
        assert_eq!(a.find("first-key-0123456789"), Some(0));
        assert_eq!(a.find("second-key-0123456789"), Some(1));
        assert_eq!(a.find("second-key-012345678"), None);
        assert_eq!(a.find(""), None);
        assert!(!Authenticator::default().enabled());
        assert!(Authenticator::default().admits(Caller::Address(IpAddr::V4(Ipv4Addr::LOCALHOST))));
        assert!(a.admits(Caller::Key(1)));
        assert!(!a.admits(Caller::Address(IpAddr::V4(Ipv4Addr::LOCALHOST))));
        assert!(!format!("{a:?}").contains("first"));
    }

    #[test]
    fn each_key_has_its_own_idempotency_scope() {
        let a = auth();
        let first = a.idempotency_scope(Caller::Key(0)).unwrap();
        let second = a.idempotency_scope(Caller::Key(1)).unwrap();
        assert_ne!(first, second);
        assert_eq!(first.len(), 24);
        assert!(!first.contains("first"));
        // The same key keeps its scope wherever it stands in API_KEYS.
        let reordered = Authenticator::new(&ApiKeys::new(vec![SecretString::from(
            "second-key-0123456789".to_owned(),
        )]));
        assert_eq!(reordered.idempotency_scope(Caller::Key(0)), Some(second));
        let peer = Caller::Address("192.0.2.1".parse().unwrap());
        assert_eq!(a.idempotency_scope(peer), None);
        assert_eq!(a.idempotency_scope(Caller::Key(7)), None);
    }

    #[test]
    fn bearer_parsing() {
        let a = auth();
        let peer: IpAddr = "192.0.2.1".parse().unwrap();
        let with = |v: &str| {
            let mut h = HeaderMap::new();
            h.insert(header::AUTHORIZATION, v.parse().unwrap());
            a.caller(&h, peer)
        };
        assert_eq!(with("Bearer first-key-0123456789"), Caller::Key(0));
        assert_eq!(with("bearer  second-key-0123456789 "), Caller::Key(1));
        assert_eq!(with("Basic first-key-0123456789"), Caller::Address(peer));
        assert_eq!(with("Bearer"), Caller::Address(peer));
        assert_eq!(a.caller(&HeaderMap::new(), peer), Caller::Address(peer));
    }

    #[test]
    fn the_banner_names_no_key() {
        assert_eq!(curl_auth_args(false), "");
        assert!(curl_auth_args(true).contains("Bearer $MMS_GATEWAY_API_KEY"));
    }
}
