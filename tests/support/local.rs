//! `herald-local` as a real process: started on a data directory, driven over HTTP, stopped with
//! real signals (`kill -TERM`, `kill -INT`, SIGKILL). `scripts/test` builds the binary before the
//! suite. And a size-limited or read-only filesystem for the bad-input tests: a tmpfs mounted in
//! a user and mount namespace of its own (`unshare`), reached through `/proc/<pid>/root`.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::Value;

/// The debug build of `herald-local`.
pub fn binary() -> PathBuf {
    debug_binary("herald-local")
}

/// The debug build of the functions package's binary `name` (`herald-local`, `herald`).
pub fn debug_binary(name: &str) -> PathBuf {
    let target = std::env::var("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target"));
    let path = target.join("debug").join(name);
    assert!(
        path.exists(),
        "{} is missing: build it with `cargo build -p functions --bin {name}` (scripts/test does)",
        path.display()
    );
    path
}

/// A new path (not created) under `$TMPDIR/herald-tests/`, which `scripts/test` empties.
pub fn temp_path(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join("herald-tests");
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    dir.join(format!("{name}-{}", uuid::Uuid::new_v4().simple()))
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or_else(|e| panic!("a free port: {e}"))
}

/// A running `herald-local`, killed when dropped.
pub struct Local {
    child: Child,
    pub port: u16,
    /// Its three lines: `export HERALD_OPERATOR_TOKEN=…`, `export HERALD_ORGANIZATION_ID=…`,
    /// `export HERALD_ADMIN_TOKEN=…`.
    pub lines: Vec<String>,
    log: PathBuf,
    http: reqwest::Client,
}

/// A start that failed: the exit status and what the process said on stderr.
#[derive(Debug)]
pub struct Refused {
    pub status: Option<ExitStatus>,
    pub stderr: String,
}

impl Local {
    /// Starts `herald-local` on `dir` (`HERALD_DATA_DIR`) and a free port, with `env` on top;
    /// panics with its stderr if it does not print its three lines.
    pub fn start(dir: &Path, env: &[(&str, &str)]) -> Self {
        Self::start_in(None, dir, env)
    }

    /// As [`Local::start`], in `tmpfs`'s namespaces when given (`dir` as seen there).
    pub fn start_in(tmpfs: Option<&Tmpfs>, dir: &Path, env: &[(&str, &str)]) -> Self {
        Self::try_start_in(tmpfs, dir, env).unwrap_or_else(|r| {
            panic!("herald-local did not start ({:?}):\n{}", r.status, r.stderr)
        })
    }

    /// As [`Local::start`], returning the exit status and stderr of a process that stopped
    /// before printing its three lines.
    pub fn try_start(dir: &Path, env: &[(&str, &str)]) -> Result<Self, Refused> {
        Self::try_start_in(None, dir, env)
    }

    /// As [`Local::try_start`], in `tmpfs`'s namespaces when given (`dir` as seen there).
    pub fn try_start_in(
        tmpfs: Option<&Tmpfs>,
        dir: &Path,
        env: &[(&str, &str)],
    ) -> Result<Self, Refused> {
        let port = free_port();
        let log = temp_path("herald-local").with_extension("log");
        let stderr = std::fs::File::create(&log).unwrap_or_else(|e| panic!("log: {e}"));
        let mut command = match tmpfs {
            Some(tmpfs) => {
                let mut command = Command::new("nsenter");
                command
                    .arg(format!("--target={}", tmpfs.holder.id()))
                    .args(["--user", "--mount", "--preserve-credentials"])
                    .arg(binary());
                command
            }
            None => Command::new(binary()),
        };
        command
            .env_remove("HERALD_BACKEND")
            .env_remove("HERALD_OPERATOR_TOKEN")
            .env("HERALD_DATA_DIR", dir)
            .env("HERALD_PORT", port.to_string())
            // moto applies one request at a time for every test of the run, so a call may wait
            // behind the others far longer than on AWS: the default 3 s limit would make tests
            // fail with the machine's load. The tests of the limit itself set their own.
            .env("HERALD_AWS_TIMEOUT_MS", "120000")
            .env("RUST_LOG", "warn");
        for (k, v) in env {
            command.env(k, v);
        }
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::from(stderr))
            .spawn()
            .unwrap_or_else(|e| panic!("spawn herald-local: {e}"));
        let stdout = child.stdout.take().unwrap_or_else(|| panic!("no stdout"));
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().take(3) {
                if tx.send(line.unwrap_or_default()).is_err() {
                    return;
                }
            }
        });
        let mut lines = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(60);
        while lines.len() < 3 {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(line) => lines.push(line),
                Err(_) => {
                    let status = wait_for(&mut child, Duration::from_secs(5));
                    if status.is_none() {
                        let _ = child.kill();
                        let _ = child.wait();
                    }
                    return Err(Refused {
                        status,
                        stderr: std::fs::read_to_string(&log).unwrap_or_default(),
                    });
                }
            }
        }
        let http = shared::adapters::http::http_client().unwrap_or_else(|e| panic!("client: {e}"));
        Ok(Self {
            child,
            port,
            lines,
            log,
            http,
        })
    }

    fn line(&self, n: usize, name: &str) -> &str {
        self.lines[n]
            .strip_prefix(&format!("export {name}="))
            .unwrap_or_else(|| panic!("line {n} is not `export {name}=…`: {:?}", self.lines))
    }

    pub fn operator_token(&self) -> &str {
        self.line(0, "HERALD_OPERATOR_TOKEN")
    }

    pub fn org(&self) -> &str {
        self.line(1, "HERALD_ORGANIZATION_ID")
    }

    pub fn admin_token(&self) -> &str {
        self.line(2, "HERALD_ADMIN_TOKEN")
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// What it wrote on stderr so far.
    pub fn stderr(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// `/v1/organizations/<its organization><rest>`
    pub fn path(&self, rest: &str) -> String {
        format!("/v1/organizations/{}{rest}", self.org())
    }

    /// Sends `body` (JSON) with `token`; the status and the JSON answer (`Null` if none).
    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        token: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut request = self
            .http
            .request(method, format!("http://127.0.0.1:{}{path}", self.port))
            .bearer_auth(token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request
            .send()
            .await
            .unwrap_or_else(|e| panic!("{path}: {e}\nstderr:\n{}", self.stderr()));
        let status = response.status().as_u16();
        let bytes = response.bytes().await.unwrap_or_default();
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        )
    }

    /// As the ready-made organization's admin.
    pub async fn admin(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let token = self.admin_token().to_owned();
        self.call(method, path, &token, body).await
    }

    /// Sends a real signal (`TERM`, `INT`) with `kill`.
    pub fn signal(&self, name: &str) {
        let sent = Command::new("kill")
            .arg(format!("-{name}"))
            .arg(self.child.id().to_string())
            .status()
            .unwrap_or_else(|e| panic!("kill -{name}: {e}"));
        assert!(sent.success(), "kill -{name} failed");
    }

    /// Waits up to `limit` for the process to end.
    pub fn wait(&mut self, limit: Duration) -> Option<ExitStatus> {
        wait_for(&mut self.child, limit)
    }

    /// SIGKILL, and reaps it.
    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Local {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// Waits up to `limit` for `child` to exit; its status, or `None` if it is still running.
pub fn wait_for(child: &mut Child, limit: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + limit;
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return Some(status);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A tmpfs of its own, mounted in a new user and mount namespace (`unshare`) held by a
/// sleeping process: a disk that can be filled, or a read-only one, without privileges on the
/// host. `herald-local` runs inside those namespaces (`nsenter`, [`Local::start_in`]), where the
/// tmpfs is at [`Tmpfs::inside`]: SQLite resolves symbolic links in a database's path, so the
/// `/proc/<pid>/root` road that the test itself takes ([`Tmpfs::root`]) would lead it out.
pub struct Tmpfs {
    holder: Child,
    mount: PathBuf,
}

impl Tmpfs {
    /// `options`: the mount options, e.g. `size=4m` or `ro,size=1m`.
    pub fn mount(options: &str) -> Self {
        let mount = temp_path("tmpfs");
        std::fs::create_dir_all(&mount).unwrap_or_else(|e| panic!("{e}"));
        let mut holder = Command::new("unshare")
            .args(["--user", "--map-root-user", "--mount", "sh", "-c"])
            .arg(r#"mount -t tmpfs -o "$1" none "$2" && echo ready && exec sleep 3600"#)
            .args(["sh", options])
            .arg(&mount)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("unshare: {e}"));
        let stdout = holder.stdout.take().unwrap_or_else(|| panic!("no stdout"));
        let mut ready = String::new();
        let _ = BufReader::new(stdout).read_line(&mut ready);
        if ready.trim() != "ready" {
            let mut err = String::new();
            if let Some(e) = holder.stderr.as_mut() {
                let _ = std::io::Read::read_to_string(e, &mut err);
            }
            panic!(
                "this machine cannot mount a tmpfs in a user namespace (unshare --user --mount): {err}"
            );
        }
        Self { holder, mount }
    }

    /// The tmpfs's root as a process in its namespaces sees it.
    pub fn inside(&self) -> &Path {
        &self.mount
    }

    /// The tmpfs's root as this process reaches it.
    pub fn root(&self) -> PathBuf {
        PathBuf::from(format!("/proc/{}/root", self.holder.id())).join(
            self.mount
                .strip_prefix("/")
                .unwrap_or_else(|e| panic!("{e}")),
        )
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = self.holder.kill();
        let _ = self.holder.wait();
    }
}

/// The `data.id` of a success envelope.
pub fn id(body: &Value) -> String {
    body["data"]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("no data.id in {body}"))
        .to_owned()
}

/// A record of every kind, made through a server's API: what a restart or a crash must keep.
pub struct Records {
    /// The member `ann` and a token of hers.
    pub ann: String,
    pub ann_token: String,
    /// A webhook notification (to the URL given) subscribed to `buildCreated`.
    pub webhook: String,
    /// An email notification subscribed to `feedbackCreated`, with two recipients.
    pub email: String,
    /// `/v1/deployments/<org>/notifications/<email>/recipients`
    pub recipients: String,
    /// `/v1/environments/<org>/notificationsSettings`, set to a daily SMS quota of 7 and `de`.
    pub settings: String,
}

impl Records {
    /// Makes them on `local`, the webhook notification delivering to `hook`.
    pub async fn create(local: &Local, hook: &str) -> Self {
        use reqwest::Method;
        use serde_json::json;
        let (status, user) = local
            .admin(
                Method::POST,
                &local.path("/users"),
                Some(json!({"username": "ann", "email": "ann@example.com", "phone": "+14155550100", "roles": ["member"]})),
            )
            .await;
        assert_eq!(status, 201, "{user}");
        let ann = id(&user);
        let (status, token) = local
            .admin(
                Method::POST,
                &local.path("/tokens"),
                Some(json!({"userId": ann})),
            )
            .await;
        assert_eq!(status, 201, "{token}");
        let notification = |body: Value| async move {
            let (status, created) = local
                .admin(Method::POST, &local.path("/notifications"), Some(body))
                .await;
            assert_eq!(status, 200, "{created}");
            id(&created)
        };
        let webhook = notification(json!({"type": "webhook", "events": {"buildCreated": true}, "setup": {"webhook": {"url": hook}}})).await;
        let email =
            notification(json!({"type": "email", "events": {"feedbackCreated": true}})).await;
        let recipients = format!(
            "/v1/deployments/{}/notifications/{email}/recipients",
            local.org()
        );
        let (status, added) = local
            .admin(
                Method::POST,
                &recipients,
                Some(json!({"recipients": [{"userId": ann}, {"embedTenantName": "t", "externalId": "e@example.com"}]})),
            )
            .await;
        assert_eq!(status, 200, "{added}");
        let settings = format!("/v1/environments/{}/notificationsSettings", local.org());
        let (status, set) = local
            .admin(
                Method::PUT,
                &settings,
                Some(json!({"restrictions": {"smsVoiceQuota": {"daily": 7}}, "defaultLanguage": "de"})),
            )
            .await;
        assert_eq!(status, 200, "{set}");
        Self {
            ann,
            ann_token: token["data"]["token"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
            webhook,
            email,
            recipients,
            settings,
        }
    }

    /// Checks that `local` (started again on the same directory) has every one of them.
    pub async fn assert_kept(&self, local: &Local) {
        use reqwest::Method;
        let (status, me) = local
            .call(Method::GET, &local.path("/users/me"), &self.ann_token, None)
            .await;
        assert_eq!(
            (status, me["data"]["id"].as_str()),
            (200, Some(self.ann.as_str())),
            "her token still works: {me}"
        );
        let (status, listed) = local
            .admin(Method::GET, &local.path("/notifications"), None)
            .await;
        assert_eq!(status, 200, "the admin token still works: {listed}");
        let mut ids: Vec<&str> = listed["data"]["items"]
            .as_array()
            .map(|a| a.iter().filter_map(|n| n["id"].as_str()).collect())
            .unwrap_or_default();
        ids.sort_unstable();
        let mut want = vec![self.webhook.as_str(), self.email.as_str()];
        want.sort_unstable();
        assert_eq!(ids, want);
        let (_, kept) = local.admin(Method::GET, &self.recipients, None).await;
        assert_eq!(kept["items"].as_array().map(Vec::len), Some(2), "{kept}");
        let (_, kept) = local.admin(Method::GET, &self.settings, None).await;
        assert_eq!(kept["restrictions"]["smsVoiceQuota"]["daily"], 7);
        assert_eq!(kept["defaultLanguage"], "de");
    }
}
