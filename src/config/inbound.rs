//! Settings of inbound messages (`docs/api.md`, "Inbound messages").

use url::Url;

use super::delivery::DeliveryConfig;
use super::{invalid, ConfigError};
use crate::address_policy::AddressPolicy;

/// `INBOUND_CALLBACK_URL`.
#[derive(Clone, Default)]
pub struct InboundConfig {
    /// Where every inbound message is posted as a signed JSON event; `None`: nowhere.
    pub callback_url: Option<Url>,
}

impl std::fmt::Debug for InboundConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InboundConfig")
            .field(
                "callback_url",
                &self
                    .callback_url
                    .as_ref()
                    .map(super::url_checks::without_userinfo),
            )
            .finish()
    }
}

impl InboundConfig {
    /// Reads the settings. `INBOUND_CALLBACK_URL` must be an `http`/`https` URL, needs
    /// `WEBHOOK_SIGNING_SECRET` (events are signed with it), and may name a loopback or private
    /// address only with `CALLBACK_ALLOW_PRIVATE`.
    pub fn from_lookup(
        get: &impl Fn(&str) -> Option<String>,
        delivery: &DeliveryConfig,
    ) -> Result<Self, ConfigError> {
        const VAR: &str = "INBOUND_CALLBACK_URL";
        let Some(value) = get(VAR) else {
            return Ok(Self::default());
        };
        let shown = super::url_checks::shown_url(value.trim());
        let url =
            Url::parse(value.trim()).map_err(|_| invalid(VAR, &shown, "is not an absolute URL"))?;
        if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
            return Err(invalid(
                VAR,
                &shown,
                "must be an http or https URL with a host",
            ));
        }
        if delivery.webhook_signing_secret.is_none() {
            return Err(invalid(
                VAR,
                &shown,
                "needs WEBHOOK_SIGNING_SECRET (inbound events are signed with it)",
            ));
        }
        if !AddressPolicy::public_only_unless(delivery.callback_allow_private)
            .allows_url(url.as_str())
        {
            return Err(invalid(
                VAR,
                &shown,
                "points to a loopback, private or otherwise non-public address (set CALLBACK_ALLOW_PRIVATE=true to allow it)",
            ));
        }
        Ok(Self {
            callback_url: Some(url),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(pairs: &[(&str, &str)]) -> Result<InboundConfig, ConfigError> {
        let get = crate::config::lookup_in(pairs);
        let delivery = DeliveryConfig::from_lookup(&get, false)?;
        InboundConfig::from_lookup(&get, &delivery)
    }

    #[test]
    fn unset_means_nowhere() {
        assert!(read(&[]).unwrap().callback_url.is_none());
    }

    #[test]
    fn needs_the_signing_secret_and_a_public_http_url() {
        let err = read(&[("INBOUND_CALLBACK_URL", "https://hooks.example.com/in")])
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("INBOUND_CALLBACK_URL"), "{err}");
        assert!(err.contains("WEBHOOK_SIGNING_SECRET"), "{err}");
        let secret = ("WEBHOOK_SIGNING_SECRET", "a-long-enough-secret");
        let ok = read(&[
            ("INBOUND_CALLBACK_URL", "https://hooks.example.com/in"),
            secret,
        ])
        .unwrap();
        assert_eq!(
            ok.callback_url.map(|u| u.to_string()).as_deref(),
            Some("https://hooks.example.com/in")
        );
        for bad in [
            "hooks.example.com",
            "ftp://x/y",
            "http://127.0.0.1:9/in",
            "http://10.0.0.1/",
        ] {
            let err = read(&[("INBOUND_CALLBACK_URL", bad), secret])
                .unwrap_err()
                .to_string();
            assert!(err.starts_with("INBOUND_CALLBACK_URL"), "{bad}: {err}");
        }
        let private = read(&[
            ("INBOUND_CALLBACK_URL", "http://127.0.0.1:9/in"),
            ("CALLBACK_ALLOW_PRIVATE", "true"),
            secret,
        ]);
        assert!(private.is_ok());
    }
}
