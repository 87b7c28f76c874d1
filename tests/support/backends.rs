//! The backends under test: a temporary SQLite database, or moto (DynamoDB and SQS) with every
//! call counted and, where a test asks, failed.

use super::*;

/// moto's endpoint, from `HERALD_MOTO_ENDPOINT` (set by `scripts/test`).
pub fn moto_endpoint() -> String {
    match std::env::var("HERALD_MOTO_ENDPOINT") {
        Ok(url) if !url.is_empty() => url,
        _ => panic!(
            "HERALD_MOTO_ENDPOINT is not set: run the suite with scripts/test, which starts moto"
        ),
    }
}

/// Counts DynamoDB calls by operation (`GetItem`, `TransactWriteItems`, ...), retries included;
/// and fails the ones it is told to, as an unreachable DynamoDB would (the client's call returns
/// an error before anything is sent).
#[derive(Debug, Default)]
pub struct CallCounter {
    calls: Mutex<Vec<String>>,
    faults: Mutex<Vec<Fault>>,
}

#[derive(Debug)]
struct Fault {
    operation: String,
    skip: usize,
    fail: usize,
}

impl CallCounter {
    pub fn take(&self) -> Vec<String> {
        std::mem::take(&mut *self.calls.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// Lets the next `skip` calls of `operation` through, then fails the `fail` after them.
    pub fn fail(&self, operation: &str, skip: usize, fail: usize) {
        self.faults
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(Fault {
                operation: operation.to_owned(),
                skip,
                fail,
            });
    }

    /// Whether faults are still waiting for their calls.
    pub fn faults_pending(&self) -> bool {
        self.faults
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .any(|f| f.fail > 0)
    }

    /// Records a call; `true` if it is to fail.
    fn record(&self, operation: String) -> bool {
        let mut faults = self.faults.lock().unwrap_or_else(|e| e.into_inner());
        let fails = match faults
            .iter_mut()
            .find(|f| f.operation == operation && f.fail > 0)
        {
            Some(f) if f.skip > 0 => {
                f.skip -= 1;
                false
            }
            Some(f) => {
                f.fail -= 1;
                true
            }
            None => false,
        };
        faults.retain(|f| f.fail > 0);
        self.calls
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(operation);
        fails
    }
}

#[derive(Debug)]
struct Counting(Arc<CallCounter>);

impl Intercept for Counting {
    fn name(&self) -> &'static str {
        "herald-tests-call-counter"
    }

    fn read_before_transmit(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _: &RuntimeComponents,
        _: &mut ConfigBag,
    ) -> Result<(), aws_sdk_dynamodb::error::BoxError> {
        let target = context
            .request()
            .headers()
            .get("x-amz-target")
            .unwrap_or_default();
        let op = target.rsplit('.').next().unwrap_or_default().to_owned();
        if self.0.record(op.clone()) {
            return Err(format!("injected: DynamoDB unavailable for {op}").into());
        }
        Ok(())
    }
}

static TABLES: AtomicUsize = AtomicUsize::new(0);

/// The SDK configuration pointing at moto.
pub async fn moto_sdk_config() -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(moto_endpoint())
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
            "test", "test", None, None, "tests",
        ))
        .load()
        .await
}

/// A new delivery queue of its own on moto (with its dead-letter queue, redrive after 5).
pub async fn moto_queue<M: QueueMessage>() -> SqsQueue<M> {
    moto_counted_queue(Arc::new(CallCounter::default())).await
}

/// [`moto_queue`], counting its SQS calls into `counter`.
pub async fn moto_counted_queue<M: QueueMessage>(counter: Arc<CallCounter>) -> SqsQueue<M> {
    moto_queue_with(counter, shared::ports::queue::MAX_RECEIVES).await
}

/// A new queue on moto whose messages go to its dead-letter queue after `max_receives`
/// receives, counting its SQS calls into `counter`.
pub async fn moto_queue_with<M: QueueMessage>(
    counter: Arc<CallCounter>,
    max_receives: u32,
) -> SqsQueue<M> {
    let config = aws_sdk_sqs::config::Builder::from(&moto_sdk_config().await)
        .interceptor(Counting(counter))
        .build();
    let client = aws_sdk_sqs::Client::from_conf(config);
    let name = format!("herald-test-{}", uuid::Uuid::new_v4().simple());
    SqsQueue::create(client, &name, max_receives)
        .await
        .unwrap_or_else(|e| panic!("creating the test queue on moto: {e}"))
}

/// A message kind under the queue contract, and the embedded queue that carries it: the delivery
/// rows for delivery messages, a queue of messages for fan-out jobs.
pub trait ContractMessage: QueueMessage {
    fn embedded_queue(db: Sqlite) -> Arc<dyn Queue<Self>>;
    /// The embedded dead letters' queue name.
    const DEAD_LETTERS: &'static str;
}

impl ContractMessage for shared::ports::queue::DeliveryMessage {
    fn embedded_queue(db: Sqlite) -> Arc<dyn Queue<Self>> {
        Arc::new(shared::adapters::sqlite::delivery_queue::DeliveryRows::new(
            db,
            shared::ports::queue::MAX_RECEIVES,
        ))
    }
    const DEAD_LETTERS: &'static str = shared::adapters::sqlite::delivery_queue::DEAD_LETTERS;
}

impl ContractMessage for shared::ports::queue::FanoutMessage {
    fn embedded_queue(db: Sqlite) -> Arc<dyn Queue<Self>> {
        Arc::new(SqliteQueue::<Self>::new(
            db,
            "test",
            shared::ports::queue::MAX_RECEIVES,
        ))
    }
    const DEAD_LETTERS: &'static str = "test";
}

/// A fresh, empty queue with a way to read its dead letters: on a new SQLite database, or a new
/// queue of its own (and its dead-letter queue) on moto.
pub async fn new_queue<M: ContractMessage>(backend: Backend) -> ContractQueue<M> {
    match backend {
        Backend::Sqlite => {
            let db = temp_database();
            ContractQueue {
                queue: M::embedded_queue(db.clone()),
                dead: DeadLetters::Sqlite(Arc::new(SqliteQueue::<M>::new(
                    db,
                    M::DEAD_LETTERS,
                    shared::ports::queue::MAX_RECEIVES,
                ))),
            }
        }
        Backend::Moto => {
            let queue = Arc::new(moto_queue::<M>().await);
            ContractQueue {
                queue: queue.clone(),
                dead: DeadLetters::Sqs(queue),
            }
        }
    }
}

/// A queue under test, and where its dead letters go.
pub struct ContractQueue<M: QueueMessage> {
    pub queue: Arc<dyn Queue<M>>,
    dead: DeadLetters<M>,
}

enum DeadLetters<M: QueueMessage> {
    Sqlite(Arc<SqliteQueue<M>>),
    Sqs(Arc<SqsQueue<M>>),
}

impl<M: QueueMessage> ContractQueue<M> {
    /// The messages redriven to the dead-letter queue.
    pub async fn dead_letters(&self) -> Vec<M> {
        match &self.dead {
            DeadLetters::Sqlite(q) => q.dead_letters(),
            DeadLetters::Sqs(q) => q.dead_letters().await,
        }
        .unwrap_or_else(|e| panic!("reading the dead letters: {e}"))
    }
}

/// The store, queues and event intake of `backend`, fresh: one new SQLite database holding all
/// of them, or a new table and two new queues on moto. The counter counts the DynamoDB calls.
pub async fn new_backends(backend: Backend) -> (Backends, Arc<CallCounter>) {
    new_backends_with(backend, shared::ports::queue::MAX_RECEIVES).await
}

/// [`new_backends`] whose delivery messages go to the dead letters after `delivery_attempts`
/// receives (a retry schedule's attempts).
pub async fn new_backends_with(
    backend: Backend,
    delivery_attempts: u32,
) -> (Backends, Arc<CallCounter>) {
    match backend {
        Backend::Sqlite => (
            Backends::sqlite(temp_database(), delivery_attempts),
            Arc::new(CallCounter::default()),
        ),
        Backend::Moto => {
            let (store, calls) = new_store(backend).await;
            let deliveries = moto_queue_with::<shared::ports::queue::DeliveryMessage>(
                Arc::new(CallCounter::default()),
                delivery_attempts,
            );
            let backends = Backends::separate(
                store,
                Arc::new(deliveries.await),
                Arc::new(moto_queue::<shared::ports::queue::FanoutMessage>().await),
            );
            (backends, calls)
        }
    }
}

/// A DynamoDB client on moto, counting its calls into `counter`.
pub async fn moto_client(counter: Arc<CallCounter>) -> aws_sdk_dynamodb::Client {
    let shared = moto_sdk_config().await;
    let config = aws_sdk_dynamodb::config::Builder::from(&shared)
        .interceptor(Counting(counter))
        .build();
    aws_sdk_dynamodb::Client::from_conf(config)
}

/// A fresh, empty store: a new SQLite database, or a new table of its own on moto.
pub async fn new_store(backend: Backend) -> (Arc<dyn Store>, Arc<CallCounter>) {
    let counter = Arc::new(CallCounter::default());
    match backend {
        Backend::Sqlite => (Arc::new(temp_database()), counter),
        Backend::Moto => {
            let n = TABLES.fetch_add(1, Ordering::SeqCst);
            let table = format!(
                "herald-test-{}-{n}-{}",
                std::process::id(),
                uuid::Uuid::new_v4().simple()
            );
            let store = DynamoStore::new(moto_client(counter.clone()).await, table);
            store
                .create_table_if_missing()
                .await
                .unwrap_or_else(|e| panic!("creating the test table on moto: {e}"));
            counter.take();
            (Arc::new(store), counter)
        }
    }
}
