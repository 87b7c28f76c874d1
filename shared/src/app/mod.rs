//! The application state, built once at the edge: the store, the two queues, the event intake,
//! the sender's inbox, the configuration, the clock and the resolver, with its builders for the
//! two backends (the embedded database; DynamoDB and SQS). It hands the domain and the workers
//! only the ports each uses ([`AppState::sender`], [`AppState::fanout_worker`],
//! [`AppState::recovery`], ...), never itself.

pub mod local;

use std::sync::Arc;

use crate::adapters::Transports;
use crate::adapters::dynamodb::DynamoStore;
use crate::adapters::http::SystemResolver;
use crate::adapters::http::slack_oauth::SlackOAuth;
use crate::adapters::inbox::QueueInbox;
use crate::adapters::intake::RecordThenQueue;
use crate::adapters::keys::MasterKey;
use crate::adapters::kms::KmsKeys;
use crate::adapters::secrets::Secret;
use crate::adapters::sqlite::Sqlite;
use crate::adapters::sqlite::delivery_queue::DeliveryRows;
use crate::adapters::sqlite::queue::SqliteQueue;
use crate::adapters::sqs::SqsQueue;
use crate::config::{Config, ConfigError};
use crate::domain::deliveries::{Burying, Recovery};
use crate::domain::events::Emitting;
use crate::domain::limits::LimitsCache;
use crate::domain::notifications::Targets;
use crate::domain::operational::Telling;
use crate::model::{Clock, SystemClock};
use crate::ports::inbox::Inbox;
use crate::ports::intake::EventIntake;
use crate::ports::keys::Keys;
use crate::ports::net::Resolver;
use crate::ports::queue::{
    DeliveryMessage, FanoutMessage, MAX_RECEIVES, Queue, QueueError, QueueMessage,
};
use crate::ports::store::Store;
use crate::ports::transport::Transport;
use crate::telemetry::Metrics;
use crate::workers::dead_letters::FailingFanouts;
use crate::workers::fanout::Fanout;
use crate::workers::relay::Relay;
use crate::workers::sender::{Rules as SenderRules, Sender};

/// Everything a handler needs, built once per process and shared.
#[derive(Clone)]
pub struct AppState {
    pub store: Arc<dyn Store>,
    /// The delivery queue (the sender's input).
    pub queue: Arc<dyn Queue<DeliveryMessage>>,
    /// The fan-out queue (emitted events, one chunk per message).
    pub fanout: Arc<dyn Queue<FanoutMessage>>,
    /// Records an event and queues its fan-out, as one unit.
    pub intake: Arc<dyn EventIntake>,
    /// Where the sender takes deliveries from and records how they ended: on SQLite the
    /// delivery rows themselves; on AWS the delivery queue and the store.
    pub inbox: Arc<dyn Inbox>,
    pub config: Arc<Config>,
    pub clock: Arc<dyn Clock>,
    pub resolver: Arc<dyn Resolver>,
    /// Slack's OAuth exchange. Concrete, not `dyn SlackInstaller`: the trait object (and with it
    /// the HTTP client and the SSM client of the Slack secret) is made only in [`AppState::targets`],
    /// so only the functions that turn setups into targets link them (a smaller binary starts
    /// faster: with the field a trait object, every function linked both, ~0.3 ms of cold start).
    pub slack: Arc<SlackOAuth>,
    /// The operator's secret (`HERALD_OPERATOR_TOKEN`, or its SSM parameter), read when an
    /// operator call comes.
    pub operator_token: Secret,
    /// Where the sender's and the fan-out's metrics go: off, but in their Lambda functions.
    pub metrics: Metrics,
    /// Seals secrets before they are stored and opens them where they are used: the local
    /// server's master key, or KMS envelope encryption on AWS (`HERALD_KMS_KEY_ID`).
    pub keys: Arc<dyn Keys>,
    /// Each organization's limits, read at most once a minute (an emit costs no extra read).
    pub limits: Arc<LimitsCache>,
}

/// The store and the queues a state runs on.
pub struct Backends {
    pub store: Arc<dyn Store>,
    pub queue: Arc<dyn Queue<DeliveryMessage>>,
    pub fanout: Arc<dyn Queue<FanoutMessage>>,
    pub intake: Arc<dyn EventIntake>,
    pub inbox: Arc<dyn Inbox>,
}

impl Backends {
    /// The embedded database: its store, both its queues (the delivery rows are the delivery
    /// queue, and the sender's inbox), and events accepted in one transaction with their fan-out
    /// message. A delivery's entry goes to the dead letters after `delivery_attempts` receives
    /// (the retry schedule's attempts).
    pub fn sqlite(db: Sqlite, delivery_attempts: u32) -> Self {
        let rows = Arc::new(DeliveryRows::new(db.clone(), delivery_attempts));
        Self {
            queue: rows.clone(),
            inbox: rows,
            fanout: Arc::new(SqliteQueue::<FanoutMessage>::new(
                db.clone(),
                crate::adapters::sqlite::queue::FANOUT,
                MAX_RECEIVES,
            )),
            intake: Arc::new(db.clone()),
            store: Arc::new(db),
        }
    }

    /// A store and two queues that are separate services (DynamoDB and SQS): an event is
    /// recorded, then queued.
    pub fn separate(
        store: Arc<dyn Store>,
        queue: Arc<dyn Queue<DeliveryMessage>>,
        fanout: Arc<dyn Queue<FanoutMessage>>,
    ) -> Self {
        Self {
            intake: Arc::new(RecordThenQueue {
                store: store.clone(),
                fanout: fanout.clone(),
                deliveries: queue.clone(),
            }),
            inbox: Arc::new(QueueInbox {
                queue: queue.clone(),
                store: store.clone(),
                ack: true,
            }),
            store,
            queue,
            fanout,
        }
    }
}

impl AppState {
    /// State over `backends`, with the system clock and resolver.
    pub fn new(config: Config, backends: Backends) -> Self {
        Self {
            store: backends.store,
            queue: backends.queue,
            fanout: backends.fanout,
            intake: backends.intake,
            inbox: backends.inbox,
            slack: Arc::new(SlackOAuth::new(&config)),
            operator_token: Secret::configured(
                config.operator_token.as_deref(),
                config.operator_token_parameter.as_deref(),
            ),
            config: Arc::new(config),
            clock: Arc::new(SystemClock),
            resolver: Arc::new(SystemResolver),
            metrics: Metrics::off(),
            // A random key until the host gives the deployment's ([`Self::with_keys`]): right
            // for a store that is never reopened (a test's), never for the local server's.
            keys: Arc::new(MasterKey::random()),
            limits: Arc::new(LimitsCache::default()),
        }
    }

    /// State on the embedded database (the local server, and the fast tests).
    pub fn on_sqlite(config: Config, db: Sqlite) -> Self {
        let attempts = config.retry_schedule.attempts();
        Self::new(config, Backends::sqlite(db, attempts))
    }

    /// State on DynamoDB and the queues `queue` makes, from the standard AWS variables (a Lambda
    /// function: the DynamoDB client created here, once; the SQS client on first use). A function
    /// binary that never enqueues passes [`no_queue`], so it does not link the SQS client.
    pub async fn on_aws_from_env(config: Config, queue: QueueFactory) -> Result<Self, ConfigError> {
        Ok(Self::on_aws(
            config,
            crate::adapters::aws::sdk_config().await?,
            queue,
        ))
    }

    /// State on DynamoDB and the queues `queue` makes, from an SDK configuration the caller
    /// already has (the sender builds its SES and SNS clients from the same one).
    pub fn on_aws(config: Config, aws: aws_config::SdkConfig, queue: QueueFactory) -> Self {
        let store = DynamoStore::new(
            aws_sdk_dynamodb::Client::new(&aws),
            config.table_name.clone(),
        )
        .with_retention(config.retention);
        let keys: Option<Arc<dyn Keys>> = config.kms_key_id.clone().map(|key| {
            Arc::new(KmsKeys::new(aws.clone(), config.table_name.clone(), key)) as Arc<dyn Keys>
        });
        let queues = queue(aws, &config);
        let state = Self::new(
            config,
            Backends::separate(Arc::new(store), queues.deliveries, queues.fanout),
        );
        match keys {
            Some(keys) => state.with_keys(keys),
            None => state,
        }
    }

    /// Replaces the key that seals secrets (the deployment's).
    pub fn with_keys(mut self, keys: Arc<dyn Keys>) -> Self {
        self.keys = keys;
        self
    }

    /// Replaces the fan-out queue (tests wrap it to make it fail). Events are then recorded and
    /// queued in two steps, as on AWS: a transaction cannot span a queue it does not own.
    pub fn with_fanout(mut self, fanout: Arc<dyn Queue<FanoutMessage>>) -> Self {
        self.intake = Arc::new(RecordThenQueue {
            store: self.store.clone(),
            fanout: fanout.clone(),
            deliveries: self.queue.clone(),
        });
        self.fanout = fanout;
        self
    }

    /// Replaces the delivery queue (tests wrap it to make it fail); deliveries queued again go
    /// through it too, and the sender takes from it and claims in the store, in two steps as on
    /// AWS.
    pub fn with_queue(mut self, queue: Arc<dyn Queue<DeliveryMessage>>) -> Self {
        self.intake = Arc::new(RecordThenQueue {
            store: self.store.clone(),
            fanout: self.fanout.clone(),
            deliveries: queue.clone(),
        });
        self.inbox = Arc::new(QueueInbox {
            queue: queue.clone(),
            store: self.store.clone(),
            ack: true,
        });
        self.queue = queue;
        self
    }

    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Replaces the operator's secret (tests read it from moto's SSM).
    pub fn with_operator_token(mut self, secret: Secret) -> Self {
        self.operator_token = secret;
        self
    }

    /// Sends the sender's and the fan-out's metrics to `metrics`.
    pub fn with_metrics(mut self, metrics: Metrics) -> Self {
        self.metrics = metrics;
        self
    }

    pub fn with_resolver(mut self, resolver: Arc<dyn Resolver>) -> Self {
        self.resolver = resolver;
        self
    }

    /// The sender, over this state's stores and queue, with `transports`.
    pub fn sender<'a>(&'a self, transports: &'a dyn Transport) -> Sender<'a> {
        Sender {
            settings: &*self.store,
            events: &*self.store,
            notifications: &*self.store,
            hooks: &*self.store,
            quota: &*self.store,
            slots: &*self.store,
            queue: &*self.queue,
            transports,
            keys: &*self.keys,
            orgs: &*self.store,
            limits: &self.limits,
            counters: &*self.store,
            clock: &*self.clock,
            metrics: &self.metrics,
            rules: SenderRules {
                schedule: &self.config.retry_schedule,
                rate_limits: self.config.rate_limits,
                allow_private: self.config.allow_private_targets,
                disable_after: self.config.disable_after,
            },
        }
    }

    /// The fan-out, over this state's stores and queues.
    pub fn fanout_worker(&self) -> Fanout<'_> {
        Fanout {
            events: &*self.store,
            settings: &*self.store,
            notifications: &*self.store,
            recipients: &*self.store,
            preferences: &*self.store,
            log: &*self.store,
            ledger: &*self.store,
            queue: &*self.queue,
            fanout: &*self.fanout,
            recovery: self.recovery(),
            clock: &*self.clock,
            metrics: &self.metrics,
        }
    }

    /// Recovering failed deliveries.
    pub fn recovery(&self) -> Recovery<'_> {
        Recovery {
            log: &*self.store,
            notifications: &*self.store,
            intake: &*self.intake,
            fanout: &*self.fanout,
        }
    }

    /// Emitting events.
    pub fn emitting(&self) -> Emitting<'_> {
        Emitting {
            intake: &*self.intake,
            settings: &*self.store,
            notifications: &*self.store,
            metrics: &self.metrics,
        }
    }

    /// Telling operational webhooks.
    pub fn telling(&self) -> Telling<'_> {
        Telling {
            hooks: &*self.store,
            queue: &*self.queue,
        }
    }

    /// Marking dead-lettered deliveries failed.
    /// The outbox relay: the store's outbox and the two queues.
    pub fn relay(&self) -> Relay<'_> {
        Relay {
            outbox: &*self.store,
            fanout: &*self.fanout,
            deliveries: &*self.queue,
        }
    }

    /// Failing the fan-outs whose jobs ran out of retries.
    pub fn failing_fanouts(&self) -> FailingFanouts<'_> {
        FailingFanouts {
            events: &*self.store,
            telling: self.telling(),
        }
    }

    pub fn burying(&self) -> Burying<'_> {
        Burying {
            ledger: &*self.store,
            log: &*self.store,
            telling: self.telling(),
        }
    }

    /// Turning notification setups into targets.
    pub fn targets(&self) -> Targets<'_> {
        Targets {
            resolver: &*self.resolver,
            slack: &*self.slack,
            allow_private: self.config.allow_private_targets,
            keys: &*self.keys,
        }
    }

    /// The sender's transports on this state's configuration and resolver: webhooks and Slack
    /// over HTTP, email and SMS through `mail`.
    pub fn transports(&self, mail: Arc<dyn Transport>) -> reqwest::Result<Transports> {
        Transports::new(
            self.resolver.clone(),
            self.config.allow_private_targets,
            self.config.slack_api_url.clone(),
            mail,
        )
    }
}

/// The two queues of the AWS backend.
pub struct Queues {
    pub deliveries: Arc<dyn Queue<DeliveryMessage>>,
    pub fanout: Arc<dyn Queue<FanoutMessage>>,
}

/// Makes the AWS backend's queues from the shared SDK configuration.
pub type QueueFactory = fn(aws_config::SdkConfig, &Config) -> Queues;

/// The queues on SQS, at `HERALD_DELIVERY_QUEUE_URL` and `HERALD_FANOUT_QUEUE_URL`. Without a URL
/// every send fails (503); the functions that enqueue refuse to start without theirs.
pub fn sqs_queue(aws: aws_config::SdkConfig, config: &Config) -> Queues {
    let url = |u: &Option<String>| u.clone().unwrap_or_default();
    Queues {
        deliveries: Arc::new(SqsQueue::<DeliveryMessage>::new(
            aws.clone(),
            url(&config.delivery_queue_url),
        )),
        fanout: Arc::new(SqsQueue::<FanoutMessage>::new(
            aws,
            url(&config.fanout_queue_url),
        )),
    }
}

/// For a function that never enqueues: every call fails (a bug if one happens).
pub fn no_queue(_: aws_config::SdkConfig, _: &Config) -> Queues {
    Queues {
        deliveries: Arc::new(NoQueue),
        fanout: Arc::new(NoQueue),
    }
}

struct NoQueue;

fn no_queue_error() -> QueueError {
    QueueError::Unavailable("this function has no queue".into())
}

#[async_trait::async_trait]
impl<M: QueueMessage> Queue<M> for NoQueue {
    async fn send(&self, _: &[M]) -> Result<(), QueueError> {
        Err(no_queue_error())
    }

    async fn send_delayed(&self, _: &[(M, std::time::Duration)]) -> Result<(), QueueError> {
        Err(no_queue_error())
    }

    async fn receive(
        &self,
        _: usize,
        _: std::time::Duration,
    ) -> Result<Vec<crate::ports::queue::Received<M>>, QueueError> {
        Err(no_queue_error())
    }

    async fn ack_all(&self, _: &[String]) -> Result<(), QueueError> {
        Err(no_queue_error())
    }

    async fn delay(&self, _: &str, _: std::time::Duration) -> Result<(), QueueError> {
        Err(no_queue_error())
    }
}
