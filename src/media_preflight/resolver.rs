//! A DNS resolver for reqwest that hands back only addresses the [`AddressPolicy`] allows, so the
//! preflight connects only to what was checked (no second, different lookup in between).

use std::net::SocketAddr;
use std::sync::Arc;

use reqwest::dns::{Addrs, Name, Resolve, Resolving};

use crate::address_policy::AddressPolicy;

/// The error when a host has no address the policy allows (or a redirect points to one).
#[derive(Debug, thiserror::Error)]
#[error("{host} resolves only to non-public addresses")]
pub struct NonPublicAddress {
    /// The host (or address) refused.
    pub host: String,
}

/// Resolves with the system resolver, then drops every address the policy refuses.
#[derive(Debug)]
pub struct FilteringResolver {
    policy: Arc<AddressPolicy>,
}

impl FilteringResolver {
    /// A resolver applying `policy`.
    pub fn new(policy: Arc<AddressPolicy>) -> Self {
        Self { policy }
    }
}

impl Resolve for FilteringResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let policy = Arc::clone(&self.policy);
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let found: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let allowed: Vec<SocketAddr> = found
                .into_iter()
                .filter(|addr| policy.allows(addr.ip()))
                .collect();
            if allowed.is_empty() {
                return Err(Box::new(NonPublicAddress { host }) as _);
            }
            Ok(Box::new(allowed.into_iter()) as Addrs)
        })
    }
}
