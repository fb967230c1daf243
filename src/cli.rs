//! The command line: `serve [--sandbox]` and `send`.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::config::Config;
use crate::domain::{OutboundMms, RawMms};
use crate::send::{Outcome, SendCommand};
use crate::startup::{Application, OneShot};
use crate::telemetry;

/// Send MMS to US and Canadian phones through Plivo.
#[derive(Debug, Parser)]
#[command(name = "mms-gateway", version, about)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the HTTP service.
    Serve {
        /// Send to a built-in Plivo simulator instead of Plivo: no credentials needed, nothing leaves the machine.
        #[arg(long)]
        sandbox: bool,
    },
    /// Ask a running service's GET /health whether it is up (exit 0) or not (exit 1); for container
    /// health checks.
    Health {
        /// The address the service listens on (HOST); 0.0.0.0 and :: are probed on 127.0.0.1.
        #[arg(long, env = "HOST")]
        host: Option<std::net::IpAddr>,
        /// The port the service listens on (PORT).
        #[arg(long, env = "PORT", default_value_t = 3000)]
        port: u16,
    },
    /// Send one MMS now, record it in DATABASE_URL's store, and print its Plivo message UUID.
    Send {
        /// Send to a built-in Plivo simulator instead of Plivo: no credentials needed, nothing leaves the machine.
        #[arg(long)]
        sandbox: bool,
        /// The recipient, E.164 (e.g. +14155551234).
        #[arg(long)]
        to: String,
        /// The message text.
        #[arg(long)]
        text: Option<String>,
        /// A media URL (repeatable).
        #[arg(long = "media", value_name = "URL")]
        media: Vec<String>,
        /// The id of media uploaded to Plivo (repeatable).
        #[arg(long = "media-id", value_name = "ID")]
        media_ids: Vec<String>,
        /// A file to upload to Plivo and send (repeatable; at most 2 MB each, 10 media in all).
        #[arg(long = "file", value_name = "PATH")]
        files: Vec<std::path::PathBuf>,
    },
}

/// Exit code for a bad or missing setting.
pub const EXIT_CONFIG: u8 = 2;

/// Runs the parsed command.
pub async fn run(cli: Cli) -> ExitCode {
    match cli.command {
        Command::Serve { sandbox } => serve(sandbox).await,
        Command::Health { host, port } => {
            crate::health_probe::run(&crate::health_probe::health_url(host, port)).await
        }
        Command::Send {
            sandbox,
            to,
            text,
            media,
            media_ids,
            files,
        } => {
            let raw = RawMms {
                to: Some(to),
                text,
                media_urls: media,
                media_ids,
            };
            send(sandbox, raw, &files).await
        }
    }
}

fn load_config(sandbox: bool) -> Result<Config, ExitCode> {
    Config::from_env(sandbox).map_err(|e| {
        eprintln!("error: {e}");
        ExitCode::from(EXIT_CONFIG)
    })
}

async fn serve(sandbox: bool) -> ExitCode {
    let config = match load_config(sandbox) {
        Ok(c) => c,
        Err(code) => return code,
    };
    telemetry::init(config.log_format, &config.log_filter);
    let app = match Application::build(config).await {
        Ok(app) => app,
        Err(e) => {
            eprintln!("error: {e:#}");
            return ExitCode::FAILURE;
        }
    };
    announce(&app);
    match app.run_until_stopped().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Prints where the service listens and a `curl` line that works as printed. A closed stdout is
/// not a reason to stop serving, so write errors are ignored.
fn announce(app: &Application) {
    use std::io::Write;
    let addr = app.local_addr();
    let host = if addr.ip().is_unspecified() {
        "127.0.0.1".to_owned()
    } else {
        addr.ip().to_string()
    };
    let base = format!("http://{host}:{}", addr.port());
    let mut lines = vec![format!("mms-gateway listening on http://{addr}")];
    if app.is_sandbox() {
        lines.push(
            "SANDBOX MODE: sends go to a built-in Plivo simulator; nothing leaves this machine."
                .to_owned(),
        );
    }
    let auth = crate::http::auth::curl_auth_args(app.requires_api_key());
    if app.requires_api_key() {
        lines.push(
            "API_KEYS is set: export MMS_GATEWAY_API_KEY=<one of its keys> before this curl."
                .to_owned(),
        );
    }
    lines.push(format!(
        "try: curl -s {base}/send-mms{auth} -H 'content-type: application/json' -d '{{\"recipientNumber\":\"+14155551234\",\"messageText\":\"Hello from mms-gateway\",\"mediaUrl\":\"https://media.giphy.com/media/26gscSULUcfKU7dHq/giphy.gif\"}}'"
    ));
    // --- console ---
    lines.push(format!("console: open {base}/console in a browser"));
    let mut out = std::io::stdout().lock();
    for line in lines {
        let _ = writeln!(out, "{line}");
    }
    let _ = out.flush();
}

async fn send(sandbox: bool, mut raw: RawMms, files: &[std::path::PathBuf]) -> ExitCode {
    let config = match load_config(sandbox) {
        Ok(c) => c,
        Err(code) => return code,
    };
    // stdout carries only the UUID; only errors are logged (to stderr), the outcome is printed.
    telemetry::init_to_stderr(config.log_format, "error");
    // --- media uploads: each file stands as a placeholder id until the send uploads it ---
    let attachments = match crate::media_upload::files::load(files) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("error: file: {e}");
            return ExitCode::FAILURE;
        }
    };
    raw.media_ids.splice(0..0, attachments.placeholder_ids());
    let mms = match OutboundMms::parse(raw) {
        Ok(m) => m,
        Err(e) => {
            eprintln!("error: {} ({}): {e}", e.field, e.code);
            return ExitCode::FAILURE;
        }
    };
    let one_shot = match OneShot::build(config).await {
        Ok(o) => o,
        Err(e) => {
            eprintln!("error: {e:#}");
            return ExitCode::FAILURE;
        }
    };
    let command = SendCommand {
        attachments,
        ..SendCommand::now(mms)
    };
    let outcome = one_shot.sender().send(command).await;
    one_shot.finish().await;
    match outcome {
        Outcome::Sent(sent) => {
            for uuid in &sent.plivo_response.message_uuid {
                println!("{uuid}");
            }
            eprintln!("recorded as message {}", sent.id);
            ExitCode::SUCCESS
        }
        Outcome::Failed(f) => {
            let plivo_said = f
                .error
                .details()
                .and_then(|d| d.get("providerError"))
                .and_then(|e| e.as_str())
                .map(|e| format!(": {e}"))
                .unwrap_or_default();
            eprintln!(
                "error: {} ({}){plivo_said}",
                f.error.message(),
                f.error.code()
            );
            ExitCode::FAILURE
        }
        other => {
            eprintln!("error: unexpected outcome of a synchronous send: {other:?}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn send_takes_repeated_media() {
        let cli = Cli::try_parse_from([
            "mms-gateway",
            "send",
            "--to",
            "+14155551234",
            "--media",
            "https://e.com/a.gif",
            "--media",
            "https://e.com/b.gif",
            "--media-id",
            "abc",
        ])
        .unwrap();
        match cli.command {
            Command::Send {
                media, media_ids, ..
            } => {
                assert_eq!(media.len(), 2);
                assert_eq!(media_ids, vec!["abc"]);
            }
            other => panic!("parsed as {other:?}"),
        }
    }
}
