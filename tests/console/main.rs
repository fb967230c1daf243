//! The console (`GET /console`) in a real browser: headless Chromium through chromedriver, against
//! the sandbox service (the real app on port 0 with the built-in simulator). Messages are sent
//! through the JSON API, as a caller would, and watched and acted on in the page. Each test says
//! SKIPPED and passes when Chromium or chromedriver is not installed.

mod browser;
mod sandbox;

mod keys;
mod messages;
mod opt_outs;
mod screenshots;
