//! Headless Chromium driven through chromedriver (WebDriver, fantoccini): one browser per test,
//! with a fresh profile, started with no network of its own. `None` (and a SKIPPED line on
//! stderr) when Chromium or chromedriver is not installed (`apt-get install chromium
//! chromium-driver`; `.ci/run` installs them).

use std::io::Write;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use fantoccini::elements::Element;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{json, Value};
use tokio::process::{Child, Command};

/// One browser at a time: each is a few hundred MB and the machine has two cores.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// How long any one wait for the page may take.
pub const WAIT: Duration = Duration::from_secs(20);

/// A headless Chromium session; its chromedriver (and so its Chromium) ends when dropped.
pub struct Browser {
    pub client: Client,
    driver: Child,
    _profile: tempfile::TempDir,
    _turn: tokio::sync::MutexGuard<'static, ()>,
}

fn on_path(names: &[&str]) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .flat_map(|dir| names.iter().map(move |name| dir.join(name)))
        .find(|candidate| is_executable(candidate))
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// Chromium and chromedriver, when both are installed.
fn tools() -> Option<(PathBuf, PathBuf)> {
    let chromium = std::env::var_os("CHROME_BIN")
        .map(PathBuf::from)
        .filter(|p| is_executable(p))
        .or_else(|| on_path(&["chromium", "chromium-browser", "google-chrome"]))?;
    Some((chromium, on_path(&["chromedriver"])?))
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free local port")
        .port()
}

impl Drop for Browser {
    /// Ends chromedriver and whatever it started: they share the process group made for it,
    /// so a failed test leaves no Chromium behind.
    fn drop(&mut self) {
        if let Some(pid) = self.driver.id() {
            let _ = std::process::Command::new("kill")
                .args(["-KILL", "--", &format!("-{pid}")])
                .stderr(Stdio::null())
                .status();
        }
    }
}

impl Browser {
    /// Starts chromedriver and a headless Chromium of `width`×`height`, or says SKIPPED and
    /// gives `None` when they are not installed.
    pub async fn launch(width: u32, height: u32) -> Option<Browser> {
        let Some((chromium, chromedriver)) = tools() else {
            let thread = std::thread::current();
            let test = thread.name().unwrap_or("(unnamed)");
            // Written directly: libtest captures the print macros of passing tests.
            let _ = writeln!(
                std::io::stderr(),
                "SKIPPED console browser test {test}: no chromium/chromedriver \
                 (apt-get install chromium chromium-driver)"
            );
            return None;
        };
        let turn = ONE_AT_A_TIME.lock().await;
        let profile = tempfile::tempdir().expect("a profile directory");
        let port = free_port();
        let driver = Command::new(chromedriver)
            .arg(format!("--port={port}"))
            .arg("--allowed-ips=127.0.0.1")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .kill_on_drop(true)
            .spawn()
            .expect("chromedriver starts");
        let mut capabilities = serde_json::Map::new();
        capabilities.insert("browserName".into(), json!("chrome"));
        capabilities.insert(
            "goog:chromeOptions".into(),
            json!({
                "binary": chromium,
                "args": [
                    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                    "--no-first-run", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
                    "--disable-extensions", "--no-default-browser-check",
                    format!("--user-data-dir={}", profile.path().display()),
                    format!("--window-size={width},{height}"),
                ],
            }),
        );
        let mut builder =
            ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new());
        builder.capabilities(capabilities);
        let webdriver = format!("http://127.0.0.1:{port}");
        let started = Instant::now();
        let client = loop {
            match builder.connect(&webdriver).await {
                Ok(client) => break client,
                Err(e) if started.elapsed() > Duration::from_secs(30) => {
                    panic!("chromedriver did not start a Chromium session: {e}")
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
            }
        };
        Some(Browser {
            client,
            driver,
            _profile: profile,
            _turn: turn,
        })
    }

    /// Ends the session (Chromium quits), then chromedriver (see `Drop`).
    pub async fn quit(self) {
        let _ = tokio::time::timeout(Duration::from_secs(10), self.client.clone().close()).await;
    }

    /// Runs `script` (a function body; `arguments` are `args`) in the page.
    pub async fn js(&self, script: &str, args: Vec<Value>) -> Value {
        self.client
            .execute(script, args)
            .await
            .expect("script runs")
    }

    /// Waits until the expression `condition` is truthy in the page; panics naming `what`
    /// (and what the page shows) after [`WAIT`].
    pub async fn wait_until(&self, what: &str, condition: &str) {
        let script = format!("try {{ return !!({condition}); }} catch (e) {{ return false; }}");
        let started = Instant::now();
        loop {
            if self.js(&script, vec![]).await == json!(true) {
                return;
            }
            if started.elapsed() > WAIT {
                let shown = self
                    .js("return document.querySelector('main').innerText", vec![])
                    .await;
                panic!("timed out waiting for {what}; the page shows: {shown}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The element `css`, waiting for it to exist.
    pub async fn find(&self, css: &str) -> Element {
        self.wait_until(
            &format!("element {css}"),
            &format!("document.querySelector({})", json!(css)),
        )
        .await;
        self.client
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("{css}: {e}"))
    }

    /// The visible text of `css` (empty when it does not exist).
    pub async fn text(&self, css: &str) -> String {
        self.js(
            "const n = document.querySelector(arguments[0]); return n ? n.innerText : '';",
            vec![json!(css)],
        )
        .await
        .as_str()
        .unwrap_or_default()
        .to_owned()
    }

    /// Whether `css` exists and is shown.
    pub async fn visible(&self, css: &str) -> bool {
        self.js(
            "const n = document.querySelector(arguments[0]); return !!n && n.offsetParent !== null;",
            vec![json!(css)],
        )
        .await
            == json!(true)
    }

    /// Loads `url` (a page of the console).
    pub async fn open(&self, url: &str) {
        self.client
            .goto(url)
            .await
            .unwrap_or_else(|e| panic!("{url}: {e}"));
    }

    /// Opens the page of message `id` of the console at `console` and waits for its fields.
    pub async fn open_message(&self, console: &str, id: &str) {
        self.open(&format!("{console}#/messages/{id}")).await;
        self.wait_until(
            "the message's page",
            &format!("location.hash === '#/messages/{id}' && document.querySelector('[data-field=recipientNumber]')"),
        )
        .await;
    }

    /// Clicks `css` once it exists.
    pub async fn click(&self, css: &str) {
        self.find(css)
            .await
            .click()
            .await
            .unwrap_or_else(|e| panic!("click {css}: {e}"));
    }

    /// Waits until exactly `n` elements match `css`.
    pub async fn wait_for_count(&self, what: &str, css: &str, n: usize) {
        self.wait_until(
            what,
            &format!("document.querySelectorAll({}).length === {n}", json!(css)),
        )
        .await;
    }
}
