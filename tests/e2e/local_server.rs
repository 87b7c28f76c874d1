//! `herald-local` as a process: it prints its three lines, serves the API and the OpenAPI
//! document, and stops on SIGTERM. `scripts/test` builds it before the suite.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

fn binary() -> PathBuf {
    let target = std::env::var("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target"));
    let path = target.join("debug/herald-local");
    assert!(
        path.exists(),
        "{} is missing: build it with `cargo build -p functions --bin herald-local` (scripts/test does)",
        path.display()
    );
    path
}

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Raw HTTP/1.1 over a loopback socket (the test needs nothing more).
fn http(port: u16, method: &str, path: &str, token: &str, body: &str) -> (u16, String) {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port))
        .unwrap_or_else(|e| panic!("connect: {e}"));
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap_or_default();
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream
        .write_all(request.as_bytes())
        .unwrap_or_else(|e| panic!("write: {e}"));
    let mut response = String::new();
    stream
        .read_to_string(&mut response)
        .unwrap_or_else(|e| panic!("read: {e}"));
    let status = response
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

/// Starts herald-local with `env`, checks its three lines and drives the API through a socket.
fn serves_the_api(env: &[(&str, String)]) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or(0);
    let mut command = Command::new(binary());
    command
        .env("HERALD_PORT", port.to_string())
        .env("HERALD_OPERATOR_TOKEN", "fixed-operator-token")
        .env_remove("HERALD_BACKEND");
    for (k, v) in env {
        command.env(k, v);
    }
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("spawn: {e}"));
    let stdout = child.stdout.take().unwrap_or_else(|| panic!("no stdout"));
    let server = Server(child);
    let lines: Vec<String> = BufReader::new(stdout)
        .lines()
        .take(3)
        .map(|l| l.unwrap_or_default())
        .collect();
    assert_eq!(lines[0], "HERALD_OPERATOR_TOKEN=fixed-operator-token");
    let org = lines[1]
        .strip_prefix("HERALD_ORGANIZATION_ID=")
        .unwrap_or_else(|| panic!("{lines:?}"));
    let token = lines[2]
        .strip_prefix("HERALD_ADMIN_TOKEN=")
        .unwrap_or_else(|| panic!("{lines:?}"));
    assert!(token.starts_with(&format!("hrld_{org}_")));

    let body = r#"{"type":"webhook","events":{"buildCreated":true},"setup":{"webhook":{"url":"http://127.0.0.1:9/hook"}}}"#;
    let (status, created) = http(
        port,
        "POST",
        &format!("/v1/organizations/{org}/notifications/"),
        token,
        body,
    );
    assert_eq!(
        status, 200,
        "private targets are allowed locally: {created}"
    );
    let (status, listed) = http(
        port,
        "GET",
        &format!("/v1/organizations/{org}/notifications"),
        token,
        "",
    );
    assert_eq!(status, 200);
    assert!(listed.contains("http://127.0.0.1:9/hook"), "{listed}");
    let (status, doc) = http(port, "GET", "/openapi.json", "", "");
    assert_eq!(status, 200);
    assert!(doc.contains("\"openapi\": \"3.1.0\""));
    let (status, created_org) = http(
        port,
        "POST",
        "/v1/organizations",
        "fixed-operator-token",
        r#"{"name":"Second","kind":"SANDBOX","plan":"TRIAL"}"#,
    );
    assert_eq!(status, 201, "{created_org}");
    drop(server);
}

#[test]
fn herald_local_prints_its_credentials_and_serves_the_api() {
    serves_the_api(&[]);
}

mod moto {
    /// `HERALD_BACKEND=aws`: the same process on DynamoDB (moto), creating its table.
    #[test]
    fn herald_local_on_dynamodb_prints_its_credentials_and_serves_the_api() {
        let table = format!("herald-local-{}", uuid::Uuid::new_v4().simple());
        super::serves_the_api(&[
            ("HERALD_BACKEND", "aws".into()),
            ("AWS_ENDPOINT_URL", herald_tests::moto_endpoint()),
            ("AWS_REGION", "us-east-1".into()),
            ("AWS_ACCESS_KEY_ID", "test".into()),
            ("AWS_SECRET_ACCESS_KEY", "test".into()),
            ("TABLE_NAME", table),
        ]);
    }
}
