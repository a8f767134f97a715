//! The library's one error type. Bad records are not errors: they are [`crate::record::Rejection`]s.

/// What can go wrong outside of cleaning: configuration, Arrow, I/O.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("unknown table {0:?}: expected one of pin, geo, user")]
    UnknownTable(String),
    #[error("rows of table {found} cannot go into a {expected} batch")]
    MixedTables {
        expected: crate::Table,
        found: crate::Table,
    },
    #[error("building an Arrow batch: {0}")]
    Arrow(#[from] arrow::error::ArrowError),
    #[error("reading a Kafka REST consumer response: {0}")]
    KafkaRestEnvelope(serde_json::Error),
    #[error(transparent)]
    Io(#[from] std::io::Error),
    #[error("not a source row: {0}")]
    SourceRow(String),
    #[error("configuration: {0}")]
    Config(String),
    #[error(
        "stream {0:?} feeds no table: name it streaming-<prefix>-<pin|geo|user> or map it in PINPIPE_STREAM_TABLES"
    )]
    UnknownStream(String),
    #[error(
        "topic {0:?} feeds no table: name it <prefix>.<pin|geo|user> or map it in PINPIPE_TOPIC_TABLES"
    )]
    UnknownTopic(String),
    #[error("offsets {0}")]
    InvalidOffsets(String),
    #[error("sequence number {0}")]
    InvalidSequence(String),
    #[error("kafka: {0}")]
    Kafka(String),
    /// A Kafka client call that failed, with librdkafka's error.
    #[cfg(feature = "kafka")]
    #[error("kafka: {doing}: {source}")]
    KafkaClient {
        doing: String,
        #[source]
        source: Box<rdkafka::error::KafkaError>,
    },
    /// An object-store call (S3 or a local path) that failed, with the store's error: what it
    /// was doing names the object.
    #[cfg(feature = "lake")]
    #[error("{doing}: {source}")]
    Store {
        doing: String,
        #[source]
        source: Box<object_store::Error>,
    },
    #[error("kinesis: {0}")]
    Kinesis(String),
    #[error("redrive: {0}")]
    Redrive(String),
    #[error("warehouse {0}")]
    Warehouse(String),
    #[error("raw zone: {0}")]
    RawZone(String),
    #[error(
        "source {0} is committed for part of this append: filter the batch by the committed position first"
    )]
    PartlyCommitted(String),
    /// Another writer moved this progress on while this one worked (a concurrent daily run):
    /// nothing was written; the work is to be chosen again from the table's new state.
    #[error("another run moved {0} on first; this run's work is chosen again from its progress")]
    ProgressMoved(String),
    #[cfg(feature = "mysql")]
    #[error("source database: {0}")]
    Mysql(#[from] sqlx::Error),
    #[error("emulator: {0}")]
    Emulate(String),
    #[cfg(feature = "lake")]
    #[error("delta: {0}")]
    Delta(#[from] deltalake::DeltaTableError),
    #[cfg(feature = "lake")]
    #[error("parquet: {0}")]
    Parquet(#[from] deltalake::parquet::errors::ParquetError),
    #[cfg(feature = "sql")]
    #[error("sql: {0}")]
    Sql(#[from] deltalake::datafusion::error::DataFusionError),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(feature = "kafka")]
impl Error {
    /// A Kafka client call that failed while `doing`.
    pub fn kafka(doing: impl Into<String>, source: rdkafka::error::KafkaError) -> Error {
        Error::KafkaClient {
            doing: doing.into(),
            source: Box::new(source),
        }
    }
}

#[cfg(feature = "lake")]
impl Error {
    /// An object-store call that failed while `doing` (which names the object).
    pub fn store(doing: impl Into<String>, source: object_store::Error) -> Error {
        Error::Store {
            doing: doing.into(),
            source: Box::new(source),
        }
    }
}

/// What a function's failure means, as Lambda reports it (`errorType`, in the logs and to the
/// caller): the event itself is wrong and no retry can help, a batch holds a record that keeps
/// failing (Lambda bisects it), or the infrastructure failed and a retry may succeed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Failure {
    BadEvent,
    PoisonBatch,
    Infrastructure,
}

impl Failure {
    /// Lambda's `errorType`.
    pub fn error_type(self) -> &'static str {
        match self {
            Failure::BadEvent => "BadEvent",
            Failure::PoisonBatch => "PoisonBatch",
            Failure::Infrastructure => "Infrastructure",
        }
    }
}

#[cfg(all(test, feature = "lake", feature = "kafka"))]
mod tests {
    use std::error::Error as _;

    use super::*;

    #[test]
    fn a_failed_store_or_kafka_call_keeps_the_error_it_got() {
        let store = Error::store(
            "reading topics/p.pin/partition=0/p.pin+0+0000000000.json",
            object_store::Error::NotFound {
                path: "topics/p.pin".into(),
                source: "gone".into(),
            },
        );
        assert!(
            store.to_string().starts_with("reading topics/p.pin"),
            "{store}"
        );
        assert!(matches!(
            store
                .source()
                .and_then(|s| s.downcast_ref::<Box<object_store::Error>>())
                .map(|b| &**b),
            Some(object_store::Error::NotFound { .. })
        ));
        let kafka = Error::kafka(
            "creating a producer",
            rdkafka::error::KafkaError::ClientCreation("bad setting".into()),
        );
        assert!(
            kafka
                .source()
                .is_some_and(|s| s.to_string().contains("bad setting"))
        );
    }
}
