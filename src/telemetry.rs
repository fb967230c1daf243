//! Logging: JSON lines by default, human-readable with `LOG_FORMAT=pretty`, filtered by `RUST_LOG`.
//!
//! Rules kept everywhere: no auth tokens or API keys, no message text, phone numbers masked.

use tracing_subscriber::EnvFilter;

use crate::config::LogFormat;

/// Installs the global subscriber, writing to stdout. Calling it again (as tests do) changes
/// nothing.
pub fn init(format: LogFormat, filter: &str) {
    init_with(format, filter, std::io::stdout);
}

/// Like [`init`], writing to stderr: for commands whose stdout is their result (`send`).
pub fn init_to_stderr(format: LogFormat, filter: &str) {
    init_with(format, filter, std::io::stderr);
}

fn init_with<W>(format: LogFormat, filter: &str, writer: W)
where
    W: for<'w> tracing_subscriber::fmt::MakeWriter<'w> + Send + Sync + 'static,
{
    let filter = EnvFilter::try_new(filter).unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer);
    let _ = match format {
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .try_init(),
        LogFormat::Pretty => builder.compact().try_init(),
    };
}
