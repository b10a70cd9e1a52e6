//! A real headless Chromium driven through chromedriver (WebDriver, fantoccini), both Debian's
//! packages (`.ci/run` installs them). Missing packages fail the test with the package names: a browser
//! test that skipped itself would let CI pass without running it.

use crate::support::free_port;
use fantoccini::{Client, ClientBuilder, Locator};
use std::path::PathBuf;
use std::time::Duration;

/// One browser session and the chromedriver serving it (killed on drop).
pub struct Browser {
    pub client: Client,
    _driver: tokio::process::Child,
    _profile: tempfile::TempDir,
    shots: PathBuf,
}

fn find(binary: &str) -> PathBuf {
    ["/usr/bin", "/usr/local/bin", "/usr/lib/chromium"]
        .iter()
        .map(|d| PathBuf::from(d).join(binary))
        .find(|p| p.exists())
        .unwrap_or_else(|| {
            panic!("{binary} is not installed: apt-get install --no-install-recommends chromium chromium-driver (.ci/run does)")
        })
}

impl Browser {
    /// Starts chromedriver on a free loopback port and a headless Chromium with a fresh profile and
    /// the closed-network flags. Screenshots go to `target/console-screenshots/<test>/`.
    pub async fn start(test: &str) -> Browser {
        let driver_bin = find("chromedriver");
        let chromium = find("chromium");
        let port = free_port();
        let driver = tokio::process::Command::new(driver_bin)
            .arg(format!("--port={port}"))
            .arg("--allowed-ips=127.0.0.1")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("chromedriver starts");
        let profile = tempfile::tempdir().expect("profile dir");
        let caps = serde_json::json!({
            "goog:chromeOptions": {
                "binary": chromium,
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                    "--disable-background-networking", "--disable-component-update", "--disable-sync",
                    "--no-first-run", "--disable-quic", "--window-size=1100,1400",
                    format!("--user-data-dir={}", profile.path().display()),
                ]
            }
        });
        let caps = caps.as_object().cloned().unwrap_or_default();
        let url = format!("http://127.0.0.1:{port}");
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        let client = loop {
            let connector = hyper_util::client::legacy::connect::HttpConnector::new();
            match ClientBuilder::new(connector)
                .capabilities(caps.clone())
                .connect(&url)
                .await
            {
                Ok(c) => break c,
                Err(e) if std::time::Instant::now() < deadline => {
                    let _ = e;
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                Err(e) => panic!("no WebDriver session from chromedriver: {e}"),
            }
        };
        let shots = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
            .join("..")
            .join("console-screenshots")
            .join(test);
        std::fs::create_dir_all(&shots).expect("screenshot dir");
        Browser {
            client,
            _driver: driver,
            _profile: profile,
            shots,
        }
    }

    /// Saves the page as `<n>-<name>.png` for a reviewer.
    pub async fn shot(&self, name: &str) {
        let png = self.client.screenshot().await.expect("screenshot");
        std::fs::write(self.shots.join(format!("{name}.png")), png).expect("write screenshot");
    }

    /// Waits (up to 60 s) until the element `css` exists and its text contains `want`; its text.
    pub async fn wait_text(&self, css: &str, want: &str) -> String {
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        let mut last = String::new();
        loop {
            if let Ok(el) = self.client.find(Locator::Css(css)).await {
                if let Ok(t) = el.text().await {
                    if t.contains(want) {
                        return t;
                    }
                    last = t;
                }
            }
            if std::time::Instant::now() > deadline {
                let url = self
                    .client
                    .current_url()
                    .await
                    .map(|u| u.to_string())
                    .unwrap_or_default();
                let source = self.client.source().await.unwrap_or_default();
                panic!("{css} never contained {want:?} (last: {last:?}) at {url}; page:\n{source}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Types `text` into the field `css` (cleared first).
    pub async fn fill(&self, css: &str, text: &str) {
        let el = self.client.find(Locator::Css(css)).await.expect(css);
        el.clear().await.expect("clear");
        el.send_keys(text).await.expect("type");
    }

    /// Clicks the element `css`.
    pub async fn click(&self, css: &str) {
        self.client
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("no {css}: {e}"))
            .click()
            .await
            .expect("click");
    }

    /// The page's path.
    pub async fn path(&self) -> String {
        self.client
            .current_url()
            .await
            .expect("url")
            .path()
            .to_string()
    }
}
