//! The `mms-gateway` binary: parse the command line and hand over to the library.

use std::process::ExitCode;

use clap::Parser;
use mms_gateway::cli::{run, Cli};

#[tokio::main]
async fn main() -> ExitCode {
    run(Cli::parse()).await
}
