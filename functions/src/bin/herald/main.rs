//! `herald`, the command line: a thin client of the HTTP API for the daily operations. Human
//! tables by default, `--json` for scripts (the API's `data`, as it answered). Exit 0 on
//! success; on failure, 1 with the API's error code and message (or what kept the request from
//! reaching the API) on stderr, and 2 for a command line clap refuses.
//!
//! The organization is the one the token belongs to (`hrld_<organization>_…`) unless `--org`
//! says otherwise.

use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

mod access;
mod client;
mod output;

use client::{Client, Failure};
use output::{Shown, cell, key_values, rows, shown, table};
use reqwest::Method;
use serde_json::{Value, json};

#[derive(Parser)]
#[command(
    name = "herald",
    version,
    about = "Herald's command line: a client of its HTTP API"
)]
struct Cli {
    /// The API's base URL. It comes before the command (`herald --url U notifications list`):
    /// after it, `--url` is the command's own (a webhook's).
    #[arg(long, env = "HERALD_URL", default_value = "http://127.0.0.1:3000")]
    url: String,
    /// An API token (`hrld_…`).
    #[arg(long, env = "HERALD_TOKEN", hide_env_values = true, global = true)]
    token: Option<String>,
    /// The organization; by default the token's own.
    #[arg(long, env = "HERALD_ORGANIZATION_ID", global = true)]
    org: Option<String>,
    /// Print the API's answer as JSON instead of a table.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Where notifications go: Slack channels, webhooks, email and SMS.
    #[command(subcommand)]
    Notifications(Notifications),
    /// The organization's notifier: paused, deliveries wait as `held` until it resumes.
    #[command(subcommand)]
    Notifier(Notifier),
    /// Events, which fan out to every subscribed notification.
    #[command(subcommand)]
    Events(Events),
    /// The delivery log.
    #[command(subcommand)]
    Deliveries(Deliveries),
    /// The organization's notifications settings.
    #[command(subcommand)]
    Settings(Settings),
    /// The recipients of an email or SMS notification.
    #[command(subcommand)]
    Recipients(Recipients),
    /// The organization's users and their roles (admin).
    #[command(subcommand)]
    Users(access::Users),
    /// The organization's API tokens (admin).
    #[command(subcommand)]
    Tokens(access::Tokens),
}

#[derive(Subcommand)]
enum Notifications {
    /// List the notifications (every page).
    List,
    /// Show one notification.
    Get { id: String },
    /// Create a notification.
    Create(CreateNotification),
    /// Send a "Test Notification" through it.
    Test { id: String },
    /// Delete it, with its recipients.
    Delete { id: String },
}

#[derive(Args)]
struct CreateNotification {
    /// `webhook`, `email` or `sms` (Slack needs its OAuth code: use the API or the console).
    #[arg(long = "type", value_parser = ["webhook", "email", "sms"])]
    kind: String,
    /// The webhook's URL (for `--type webhook`).
    #[arg(
        long = "url",
        id = "webhook_url",
        value_name = "URL",
        required_if_eq("kind", "webhook")
    )]
    url: Option<String>,
    /// The event types it is for, comma-separated (e.g. `buildCreated,buildProcessed`).
    #[arg(long, value_delimiter = ',')]
    events: Vec<String>,
    /// Up to 128 characters.
    #[arg(long)]
    description: Option<String>,
}

#[derive(Subcommand)]
enum Notifier {
    /// Whether the notifier is paused.
    Status,
    /// Pause: new deliveries wait as `held`.
    Pause,
    /// Resume: the held deliveries go out.
    Resume,
}

#[derive(Subcommand)]
enum Events {
    /// Emit an event.
    Emit {
        /// One of the 15 event types (`GET /v1/event-types` lists them).
        #[arg(value_name = "TYPE")]
        kind: String,
        /// Its data, a JSON object.
        #[arg(long)]
        data: Option<String>,
        /// Deduplicates for 24 hours.
        #[arg(long)]
        idempotency_key: Option<String>,
    },
    /// Show an event, its fan-out and its deliveries.
    Get { id: String },
    /// Fan out again an event whose fan-out failed (its deliveries made before are not sent twice).
    RetryFanout { id: String },
}

#[derive(Subcommand)]
enum Deliveries {
    /// The newest deliveries.
    List {
        /// `queued`, `held`, `sending`, `sent`, `failed` or `skipped`.
        #[arg(long)]
        status: Option<String>,
        /// Only this event's.
        #[arg(long = "event")]
        event: Option<String>,
        /// How many, 1 to 100.
        #[arg(long, default_value_t = 50)]
        limit: u32,
    },
    /// Show one delivery, with its last attempts.
    Get { id: String },
    /// Send a failed or sent delivery once more (same content, same webhook-id).
    Resend { id: String },
    /// Queue again every failed delivery of a notification created in a window.
    Recover {
        notification_id: String,
        /// RFC 3339, at most 14 days back.
        #[arg(long)]
        since: String,
        /// RFC 3339; now when absent.
        #[arg(long)]
        until: Option<String>,
    },
    /// Follow new deliveries and their changes until Ctrl-C.
    Tail {
        /// How often to look, in seconds.
        #[arg(long, default_value_t = 1)]
        every: u64,
    },
}

#[derive(Subcommand)]
enum Settings {
    /// Show the settings.
    Get,
    /// Change some of them.
    Set {
        /// SMS per user per day, 0 to 50.
        #[arg(long)]
        sms_quota: Option<u32>,
        /// `ALL` (production organizations) or `WHITELIST`.
        #[arg(long)]
        delivery_mode: Option<String>,
        /// `en`, `de`, `fr` or `es`.
        #[arg(long)]
        language: Option<String>,
    },
}

#[derive(Subcommand)]
enum Recipients {
    /// Add recipients from a file holding the recipients API's body (`{"recipients": [...]}`).
    Add {
        notification_id: String,
        #[arg(long)]
        file: std::path::PathBuf,
    },
}

const NOTIFICATION_COLUMNS: &[&str] =
    &["id", "type", "enabled", "description", "config.webhook.url"];
const ATTEMPT_COLUMNS: &[&str] = &["at", "outcome", "statusCode", "durationMs", "error"];
const DELIVERY_COLUMNS: &[&str] = &[
    "id",
    "status",
    "method",
    "attempts",
    "eventId",
    "notificationId",
    "lastError",
    "updatedAt",
];

async fn run(cli: Cli) -> Result<Shown, Failure> {
    let token = cli
        .token
        .filter(|t| !t.is_empty())
        .ok_or_else(|| Failure("no token: give --token or set HERALD_TOKEN".to_owned()))?;
    let org = match cli.org {
        Some(org) => org,
        None => shared::model::token::token_organization(&token)
            .map(|o| o.to_string())
            .ok_or_else(|| {
                Failure("the token is not a Herald token (hrld_…); give --org".to_owned())
            })?,
    };
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()?;
    let c = Client {
        http,
        url: cli.url,
        token,
        org,
    };
    match cli.command {
        Command::Notifications(command) => notifications(&c, command).await,
        Command::Notifier(command) => notifier(&c, command).await,
        Command::Events(command) => events(&c, command).await,
        Command::Deliveries(command) => deliveries(&c, command, cli.json).await,
        Command::Settings(command) => settings(&c, command).await,
        Command::Users(command) => access::users(&c, command).await,
        Command::Tokens(command) => access::tokens(&c, command).await,
        Command::Recipients(Recipients::Add {
            notification_id,
            file,
        }) => {
            let text = std::fs::read_to_string(&file)
                .map_err(|e| Failure(format!("{}: {e}", file.display())))?;
            let body: Value = serde_json::from_str(&text)
                .map_err(|e| Failure(format!("{}: not JSON: {e}", file.display())))?;
            let path = format!(
                "/v1/deployments/{}/notifications/{notification_id}/recipients",
                c.org
            );
            let answer = c.call(Method::POST, &path, Some(body)).await?;
            let count = |k: &str| answer[k].as_array().map_or(0, Vec::len);
            let human = format!(
                "created {}, updated {}, unchanged {}",
                count("createdRecipients"),
                count("updatedRecipients"),
                count("unchangedRecipients")
            );
            shown(answer, human)
        }
    }
}

async fn deliveries(c: &Client, command: Deliveries, json: bool) -> Result<Shown, Failure> {
    match command {
        Deliveries::Tail { every } => tail(c, every, json).await,
        Deliveries::Get { id } => {
            let path = c.org_path(&format!("/deliveries/{id}"));
            let answer = c.call(Method::GET, &path, None).await?;
            let data = &answer["data"];
            let history = data["history"].as_array().cloned().unwrap_or_default();
            let mut human = key_values(data);
            if !history.is_empty() {
                human.push_str("\n\n");
                human.push_str(&table(ATTEMPT_COLUMNS, &rows(&history, ATTEMPT_COLUMNS)));
            }
            shown(data.clone(), human)
        }
        Deliveries::List {
            status,
            event,
            limit,
        } => {
            let mut path = c.org_path(&format!("/deliveries?limit={limit}"));
            if let Some(s) = status {
                path.push_str(&format!("&status={s}"));
            }
            if let Some(e) = event {
                path.push_str(&format!("&eventId={e}"));
            }
            let answer = c.call(Method::GET, &path, None).await?;
            let items = answer["data"]["items"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            let human = table(DELIVERY_COLUMNS, &rows(&items, DELIVERY_COLUMNS));
            shown(answer["data"].clone(), human)
        }
        Deliveries::Resend { id } => {
            let path = c.org_path(&format!("/deliveries/{id}/resend"));
            let answer = c.call(Method::POST, &path, None).await?;
            let human = format!("queued {} again", cell(&answer["data"]["id"]));
            shown(answer["data"].clone(), human)
        }
        Deliveries::Recover {
            notification_id,
            since,
            until,
        } => {
            let mut body = json!({"since": since});
            if let Some(until) = until {
                body["until"] = Value::String(until);
            }
            let path = c.org_path(&format!("/notifications/{notification_id}/recover"));
            let answer = c.call(Method::POST, &path, Some(body)).await?;
            let data = &answer["data"];
            let mut human = format!("queued {} failed deliveries again", cell(&data["queued"]));
            if data["more"] == true {
                human.push_str("; more are being queued in the background");
            }
            shown(data.clone(), human)
        }
    }
}

async fn notifications(c: &Client, command: Notifications) -> Result<Shown, Failure> {
    match command {
        Notifications::List => {
            let items = c.all(&c.org_path("/notifications")).await?;
            let human = table(NOTIFICATION_COLUMNS, &rows(&items, NOTIFICATION_COLUMNS));
            shown(Value::Array(items), human)
        }
        Notifications::Get { id } => {
            let answer = c
                .call(
                    Method::GET,
                    &c.org_path(&format!("/notifications/{id}")),
                    None,
                )
                .await?;
            let human = key_values(&answer["data"]);
            shown(answer["data"].clone(), human)
        }
        Notifications::Create(new) => {
            let events: serde_json::Map<String, Value> = new
                .events
                .iter()
                .map(|e| (e.trim().to_owned(), Value::Bool(true)))
                .collect();
            let mut body = json!({"type": new.kind, "events": events});
            if let Some(url) = new.url {
                body["setup"] = json!({"webhook": {"url": url}});
            }
            if let Some(d) = new.description {
                body["description"] = Value::String(d);
            }
            let answer = c
                .call(Method::POST, &c.org_path("/notifications"), Some(body))
                .await?;
            let data = &answer["data"];
            let mut human = format!("created {} ({})", cell(&data["id"]), cell(&data["type"]));
            if let Some(secret) = data["config"]["webhook"]["token"].as_str() {
                human.push_str(&format!("\nsigning secret: {secret}"));
            }
            shown(data.clone(), human)
        }
        Notifications::Test { id } => {
            let path = c.org_path(&format!("/notifications/{id}/test"));
            let answer = c.call(Method::POST, &path, None).await?;
            let human = format!("queued delivery {}", cell(&answer["data"]["deliveryId"]));
            shown(answer["data"].clone(), human)
        }
        Notifications::Delete { id } => {
            let path = c.org_path(&format!("/notifications/{id}"));
            let answer = c.call(Method::DELETE, &path, None).await?;
            shown(answer["data"].clone(), format!("deleted {id}"))
        }
    }
}

async fn notifier(c: &Client, command: Notifier) -> Result<Shown, Failure> {
    let path = "/api/v2/notifications/settings";
    let answer = match command {
        Notifier::Status => c.call(Method::GET, path, None).await?,
        Notifier::Pause | Notifier::Resume => {
            let paused = matches!(command, Notifier::Pause);
            let body = json!({"notifier_paused": paused});
            // 304 (nothing changed) has no body: the state is the one asked for.
            match c.call(Method::PUT, path, Some(body)).await? {
                Value::Null => json!({"notifier_paused": paused}),
                answer => answer,
            }
        }
    };
    let human = match answer["notifier_paused"].as_bool() {
        Some(true) => "paused: deliveries wait as held".to_owned(),
        _ => "running".to_owned(),
    };
    shown(answer, human)
}

async fn events(c: &Client, command: Events) -> Result<Shown, Failure> {
    match command {
        Events::Emit {
            kind,
            data,
            idempotency_key,
        } => {
            let mut body = json!({"type": kind});
            if let Some(data) = data {
                body["data"] = serde_json::from_str(&data)
                    .map_err(|e| Failure(format!("--data is not JSON: {e}")))?;
            }
            if let Some(key) = idempotency_key {
                body["idempotencyKey"] = Value::String(key);
            }
            let answer = c
                .call(Method::POST, &c.org_path("/events"), Some(body))
                .await?;
            let data = &answer["data"];
            let mut human = format!("accepted event {}", cell(&data["id"]));
            for w in data["warnings"].as_array().into_iter().flatten() {
                human.push_str(&format!(
                    "\nwarning: {} {}",
                    cell(&w["field"]),
                    cell(&w["message"])
                ));
            }
            shown(data.clone(), human)
        }
        Events::Get { id } => {
            let answer = c
                .call(Method::GET, &c.org_path(&format!("/events/{id}")), None)
                .await?;
            let data = &answer["data"];
            let deliveries = data["deliveries"]["items"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            let human = format!(
                "event {} ({}) at {}, fan-out {} ({} deliveries)\n{}",
                cell(&data["id"]),
                cell(&data["type"]),
                cell(&data["createdAt"]),
                cell(&data["fanout"]["status"]),
                cell(&data["fanout"]["deliveries"]),
                table(DELIVERY_COLUMNS, &rows(&deliveries, DELIVERY_COLUMNS))
            );
            shown(data.clone(), human)
        }
        Events::RetryFanout { id } => {
            let path = c.org_path(&format!("/events/{id}/fanout/retry"));
            let answer = c.call(Method::POST, &path, None).await?;
            let human = format!(
                "fanning out {} again: {}",
                cell(&answer["data"]["id"]),
                cell(&answer["data"]["fanout"]["status"])
            );
            shown(answer["data"].clone(), human)
        }
    }
}

async fn settings(c: &Client, command: Settings) -> Result<Shown, Failure> {
    let path = format!("/v1/environments/{}/notificationsSettings", c.org);
    let answer = match command {
        Settings::Get => c.call(Method::GET, &path, None).await?,
        Settings::Set {
            sms_quota,
            delivery_mode,
            language,
        } => {
            let mut body = json!({});
            if let Some(q) = sms_quota {
                body["restrictions"] = json!({"smsVoiceQuota": {"daily": q}});
            }
            if let Some(m) = delivery_mode {
                body["deliveryMode"] = Value::String(m);
            }
            if let Some(l) = language {
                body["defaultLanguage"] = Value::String(l);
            }
            c.call(Method::PUT, &path, Some(body)).await?
        }
    };
    let human = table(
        &["field", "value"],
        &[
            vec![
                "smsQuota".into(),
                cell(&answer["restrictions"]["smsVoiceQuota"]["daily"]),
            ],
            vec!["deliveryMode".into(), cell(&answer["deliveryMode"])],
            vec!["defaultLanguage".into(), cell(&answer["defaultLanguage"])],
            vec![
                "whitelist".into(),
                answer["whitelist"]
                    .as_array()
                    .map_or(0, Vec::len)
                    .to_string(),
            ],
            vec!["updatedAt".into(), cell(&answer["updatedAt"])],
        ],
    );
    shown(answer, human)
}

/// Prints each delivery when it first appears and whenever its status or attempts change, newest
/// last, until Ctrl-C (then exits 0).
async fn tail(c: &Client, every: u64, as_json: bool) -> Result<Shown, Failure> {
    let mut seen: std::collections::HashMap<String, (String, String)> = Default::default();
    let mut first = true;
    loop {
        let answer = c
            .call(Method::GET, &c.org_path("/deliveries?limit=100"), None)
            .await?;
        let mut items = answer["data"]["items"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        items.reverse();
        let mut fresh = Vec::new();
        for item in items {
            let id = cell(&item["id"]);
            let state = (cell(&item["status"]), cell(&item["attempts"]));
            if seen.get(&id) != Some(&state) {
                seen.insert(id, state);
                fresh.push(item);
            }
        }
        if as_json {
            for item in &fresh {
                println!("{item}");
            }
        } else if !fresh.is_empty() {
            let text = table(DELIVERY_COLUMNS, &rows(&fresh, DELIVERY_COLUMNS));
            let mut lines = text.lines();
            let header = lines.next().unwrap_or_default();
            if first {
                println!("{header}");
            }
            for line in lines {
                println!("{line}");
            }
            first = false;
        }
        tokio::select! {
            _ = tokio::signal::ctrl_c() => return shown(Value::Null, String::new()),
            () = tokio::time::sleep(Duration::from_secs(every.max(1))) => {}
        }
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let as_json = cli.json;
    match run(cli).await {
        Ok(Shown { json, human }) => {
            if as_json && !json.is_null() {
                println!("{json:#}");
            } else if !human.is_empty() {
                println!("{human}");
            }
            ExitCode::SUCCESS
        }
        Err(Failure(message)) => {
            eprintln!("herald: {message}");
            ExitCode::FAILURE
        }
    }
}
