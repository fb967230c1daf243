//! Start-up refuses unusable settings with exit code 2 and one line naming the variable, and no line
//! ever shows a password, a token or a URL's userinfo, whether or not the value parses.

use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_mms-gateway");
const SECRET: &str = "Pw9SecretValue";

/// `mms-gateway serve` with valid Plivo settings plus `extra`, in an empty directory.
fn serve_with(extra: &[(&str, String)]) -> (Option<i32>, String) {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut cmd = Command::new(BIN);
    cmd.current_dir(dir.path())
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("PLIVO_AUTH_ID", "MAXXXXXXXXXXXXXXXXXX")
        .env("PLIVO_AUTH_TOKEN", "token-token-token")
        .env("PLIVO_SENDER_NUMBER", "+14155550100")
        .env("PORT", "0")
        .env("HOST", "127.0.0.1")
        .arg("serve");
    for (k, v) in extra {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("runs");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    (out.status.code(), stderr)
}

fn assert_refused(var: &str, value: String) {
    let (code, stderr) = serve_with(&[(var, value.clone())]);
    assert_eq!(code, Some(2), "{var}={value}: {stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "{var}={value}: {stderr}");
    assert!(stderr.contains(var), "{var}={value}: {stderr}");
    assert!(!stderr.contains(SECRET), "{var}={value} leaked: {stderr}");
}

#[test]
fn malformed_database_urls_never_show_their_password() {
    for url in [
        format!("postgres:/user:{SECRET}@host/db"),
        format!("postgresql:u:{SECRET}@host/db"),
        format!("pg:u:{SECRET}@x"),
        format!("postgres://u:{SECRET}@/db"),
        format!("mysql://u:{SECRET}@host/db"),
        format!("sqlite://u:{SECRET}@/nonexistent/x.db"),
    ] {
        assert_refused("DATABASE_URL", url);
    }
}

#[test]
fn unusable_database_urls_exit_2_naming_the_variable() {
    for url in [
        "sqlite:/nonexistent/dir/x.db",
        "sqlite:",
        "sqlite://",
        "postgres://",
        "postgresql:///db",
    ] {
        assert_refused("DATABASE_URL", url.to_owned());
    }
}

#[test]
fn a_token_pasted_into_the_auth_id_is_not_echoed() {
    assert_refused("PLIVO_AUTH_ID", format!("MA{SECRET}{SECRET}"));
    assert_refused("PLIVO_AUTH_ID", SECRET.to_owned());
}

#[test]
fn url_variables_are_never_echoed_with_their_userinfo() {
    for var in ["PLIVO_API_BASE_URL", "PUBLIC_BASE_URL"] {
        assert_refused(var, format!("ftp://user:{SECRET}@example.com"));
        assert_refused(var, format!("https://user:{SECRET}@exa mple.com"));
        assert_refused(var, format!("user:{SECRET}@example.com"));
    }
}
