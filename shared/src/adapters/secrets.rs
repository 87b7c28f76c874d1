//! The deployment's secrets: the operator token and the Slack app's client secret.
//!
//! In Lambda each lives in SSM Parameter Store (a `SecureString`), named by the environment
//! variable `<VARIABLE>_PARAMETER` of the one or two functions that use it (and only they may read
//! it: their IAM policy names that parameter). It is fetched on first use and kept for the life
//! of the process; a function that never asks for a secret never builds an SSM client, so its cold
//! start does not pay for one. Locally (and wherever `<VARIABLE>_PARAMETER` is not set) the value
//! is the environment variable itself.
//!
//! A secret's value is never logged, shown in an error or formatted by `Debug`: what can fail is
//! named by the parameter.

use std::sync::Arc;

use tokio::sync::OnceCell;

/// One secret: its value, or the SSM parameter that holds it.
#[derive(Clone)]
pub struct Secret(Arc<Inner>);

struct Inner {
    source: Source,
    fetched: OnceCell<Option<Arc<str>>>,
}

enum Source {
    Value(Option<Arc<str>>),
    /// An SSM parameter, read with this client (or one built from the environment when needed).
    Parameter {
        name: String,
        client: Option<aws_sdk_ssm::Client>,
    },
}

/// A secret's parameter could not be read (it is missing, or SSM is unreachable or refused):
/// names the parameter, never a value.
#[derive(Clone, Debug, thiserror::Error, PartialEq, Eq)]
#[error("secret parameter {parameter}: {why}")]
pub struct SecretError {
    pub parameter: String,
    pub why: String,
}

impl Secret {
    fn new(source: Source) -> Self {
        Self(Arc::new(Inner {
            source,
            fetched: OnceCell::new(),
        }))
    }

    /// No secret configured.
    pub fn none() -> Self {
        Self::new(Source::Value(None))
    }

    /// A value given as it is (empty: none).
    pub fn value(value: impl Into<String>) -> Self {
        let value: String = value.into();
        Self::new(Source::Value((!value.is_empty()).then(|| value.into())))
    }

    /// The SSM parameter `name`, read with `client` (built from the environment when `None`).
    pub fn parameter(name: impl Into<String>, client: Option<aws_sdk_ssm::Client>) -> Self {
        Self::new(Source::Parameter {
            name: name.into(),
            client,
        })
    }

    /// The SSM parameter `parameter` when one is named, else `value` (the configuration's pair
    /// `<VARIABLE>` and `<VARIABLE>_PARAMETER`).
    pub fn configured(value: Option<&str>, parameter: Option<&str>) -> Self {
        match (parameter, value) {
            (Some(name), _) => Self::parameter(name, None),
            (None, Some(value)) => Self::value(value),
            (None, None) => Self::none(),
        }
    }

    /// Whether there is a value or a parameter to read it from.
    pub fn is_configured(&self) -> bool {
        !matches!(self.0.source, Source::Value(None))
    }

    /// The value: as given, or read from its parameter on the first call and kept (a failed read
    /// is not kept: the next call tries again). `None` when none is configured.
    pub async fn get(&self) -> Result<Option<Arc<str>>, SecretError> {
        match &self.0.source {
            Source::Value(value) => Ok(value.clone()),
            Source::Parameter { name, client } => self
                .0
                .fetched
                .get_or_try_init(|| fetch(name, client.as_ref()))
                .await
                .cloned(),
        }
    }
}

async fn fetch(
    name: &str,
    client: Option<&aws_sdk_ssm::Client>,
) -> Result<Option<Arc<str>>, SecretError> {
    let failed = |why: String| SecretError {
        parameter: name.to_owned(),
        why,
    };
    let client = match client {
        Some(client) => client.clone(),
        None => aws_sdk_ssm::Client::new(
            &crate::adapters::aws::sdk_config()
                .await
                .map_err(|e| failed(e.to_string()))?,
        ),
    };
    let answer = client
        .get_parameter()
        .name(name)
        .with_decryption(true)
        .send()
        .await
        .map_err(|e| {
            failed(
                aws_sdk_ssm::error::DisplayErrorContext(e)
                    .to_string()
                    .chars()
                    .take(300)
                    .collect(),
            )
        })?;
    Ok(answer
        .parameter
        .and_then(|p| p.value)
        .filter(|v| !v.is_empty())
        .map(Arc::from))
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.0.source {
            Source::Value(None) => f.write_str("Secret(none)"),
            Source::Value(Some(_)) => f.write_str("Secret(<redacted>)"),
            Source::Parameter { name, .. } => write!(f, "Secret(parameter {name})"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_value_is_given_back_and_never_formatted() {
        let secret = Secret::value("s3cret-value");
        assert_eq!(
            secret.get().await.ok().flatten().as_deref(),
            Some("s3cret-value")
        );
        assert_eq!(format!("{secret:?}"), "Secret(<redacted>)");
        assert!(secret.is_configured());
        assert!(!Secret::value("").is_configured());
        assert_eq!(Secret::none().get().await, Ok(None));
        assert_eq!(
            format!("{:?}", Secret::parameter("/herald/x", None)),
            "Secret(parameter /herald/x)"
        );
    }
}
