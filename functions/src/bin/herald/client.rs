//! `herald`'s HTTP client: one call to the API, its error envelope turned into a message.

use reqwest::Method;
use serde_json::Value;

/// Why a command failed, as the person running it should read it.
pub struct Failure(pub String);

impl From<reqwest::Error> for Failure {
    fn from(e: reqwest::Error) -> Self {
        let url = e.url().map(|u| u.as_str().to_owned()).unwrap_or_default();
        Failure(if e.is_connect() || e.is_timeout() {
            format!(
                "cannot reach the API at {url} (is the server running? set --url or HERALD_URL)"
            )
        } else if e.is_builder() {
            format!("not a usable URL: {url}")
        } else {
            format!("the request to {url} failed: {e}")
        })
    }
}

pub struct Client {
    pub http: reqwest::Client,
    pub url: String,
    pub token: String,
    pub org: String,
}

impl Client {
    /// Sends `body` to `path` and returns the answer's JSON, or the API's error as a failure.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value, Failure> {
        let url = format!("{}{path}", self.url.trim_end_matches('/'));
        let mut request = self.http.request(method, &url).bearer_auth(&self.token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await?;
        let status = response.status();
        let text = response.text().await?;
        let answer: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        // 304: nothing to change (the admin API's settings PUT), and no body.
        if status.is_success() || status == reqwest::StatusCode::NOT_MODIFIED {
            return Ok(answer);
        }
        let error = &answer["error"];
        let mut message = match (error["code"].as_u64(), error["message"].as_str()) {
            (Some(code), Some(text)) => format!("{} {code}: {text}", status.as_u16()),
            _ => format!("{status} from {url} (not Herald's API?)"),
        };
        for detail in error["details"].as_array().into_iter().flatten() {
            let field = detail["field"].as_str().unwrap_or_default();
            let text = detail["message"].as_str().unwrap_or_default();
            message.push_str(&format!("\n  {field}: {text}"));
        }
        Err(Failure(message))
    }

    pub fn org_path(&self, rest: &str) -> String {
        format!("/v1/organizations/{}{rest}", self.org)
    }

    /// Every item of a list, following `nextCursor`.
    pub async fn all(&self, path: &str) -> Result<Vec<Value>, Failure> {
        let mut items = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let page = match &cursor {
                Some(c) => format!("{path}?limit=100&cursor={c}"),
                None => format!("{path}?limit=100"),
            };
            let answer = self.call(Method::GET, &page, None).await?;
            items.extend(
                answer["data"]["items"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default(),
            );
            match answer["data"]["nextCursor"].as_str() {
                Some(next) => cursor = Some(next.to_owned()),
                None => return Ok(items),
            }
        }
    }
}
