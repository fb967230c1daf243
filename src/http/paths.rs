//! Which paths are open: the one list the API-key check and the load limits read.

/// The probes: open without a key and never shed, so load balancers keep seeing the service.
pub const PROBES: [&str; 2] = ["/health", "/ready"];

/// Plivo's callbacks live under this prefix; open without a key (they are signed).
pub const WEBHOOKS_PREFIX: &str = "/webhooks/";

/// Whether `path` is a probe (`/health`, `/ready`).
pub fn is_probe(path: &str) -> bool {
    PROBES.contains(&path)
}

/// Whether `path` is open without a key: the probes, Plivo's callbacks and the console's page and
/// files (they hold no data; the page asks for a key and sends it with every API request).
pub fn is_open(path: &str) -> bool {
    is_probe(path)
        || path.starts_with(WEBHOOKS_PREFIX)
        // --- console ---
        || super::routes::console::is_console_path(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn open_paths() {
        assert!(is_open("/health"));
        assert!(is_open("/ready"));
        assert!(is_open("/webhooks/plivo/status"));
        assert!(!is_open("/send-mms"));
        assert!(!is_open("/metrics"));
        assert!(!is_open("/healthz"));
        assert!(is_probe("/ready"));
        assert!(!is_probe("/webhooks/plivo/status"));
        assert!(is_open("/console") && is_open("/console/console.js"));
        assert!(!is_probe("/console"));
    }
}
