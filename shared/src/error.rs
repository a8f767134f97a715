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
    #[error("not a source row: {what}{}", caused(.source.as_deref()))]
    SourceRow {
        what: String,
        #[source]
        source: Option<BoxError>,
    },
    /// A setting, a secret or a credential the deployment gives that cannot be used.
    #[error("configuration: {what}{}", caused(.source.as_deref()))]
    Config {
        what: String,
        #[source]
        source: Option<BoxError>,
    },
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
    /// A Kinesis call of the local event-source runner (or its checkpoints) that failed.
    #[error("kinesis: {what}{}", caused(.source.as_deref()))]
    Kinesis {
        what: String,
        #[source]
        source: Option<BoxError>,
    },
    /// A redrive that cannot go on (an object or a quarantine row it cannot read, a batch the lake
    /// cannot take now).
    #[error("redrive: {what}{}", caused(.source.as_deref()))]
    Redrive {
        what: String,
        #[source]
        source: Option<BoxError>,
    },
    /// An Athena call or query of the daily run's insights (the query's id and state in `what`).
    #[error("athena: {what}{}", caused(.source.as_deref()))]
    Athena {
        what: String,
        #[source]
        source: Option<BoxError>,
    },
    /// The warehouse root or a task working on it.
    #[error("warehouse {what}{}", caused(.source.as_deref()))]
    Warehouse {
        what: String,
        #[source]
        source: Option<BoxError>,
    },
    #[error("raw zone: {what}{}", caused(.source.as_deref()))]
    RawZone {
        what: String,
        #[source]
        source: Option<BoxError>,
    },
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
    #[error("emulator: {what}{}", caused(.source.as_deref()))]
    Emulate {
        what: String,
        #[source]
        source: Option<BoxError>,
    },
    #[cfg(feature = "lake")]
    #[error("delta: {0}")]
    Delta(#[from] crate::lake::DeltaTableError),
    #[cfg(feature = "lake")]
    #[error("parquet: {0}")]
    Parquet(#[from] crate::lake::ParquetError),
    #[cfg(feature = "sql")]
    #[error("sql: {0}")]
    Sql(#[from] crate::lake::DataFusionError),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The error a dependency returned, kept as the source of one of ours.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// `: <source>: <its source>…` — the whole chain, so that a message printed alone (a log line,
/// Lambda's `errorMessage`) still says what the dependency said.
fn caused(source: Option<&(dyn std::error::Error + Send + Sync + 'static)>) -> String {
    let mut out = String::new();
    let mut next: Option<&(dyn std::error::Error + 'static)> = source.map(|e| e as _);
    while let Some(e) = next {
        out.push_str(": ");
        out.push_str(&e.to_string());
        next = e.source();
    }
    out
}

macro_rules! with_source {
    ($($variant:ident: $plain:ident, $from:ident;)*) => {
        impl Error {
            $(
                #[doc = concat!("An [`Error::", stringify!($variant), "`] saying `what`.")]
                pub fn $plain(what: impl Into<String>) -> Error {
                    Error::$variant { what: what.into(), source: None }
                }

                #[doc = concat!("An [`Error::", stringify!($variant), "`]: `what` failed with `source`, kept.")]
                pub fn $from(what: impl Into<String>, source: impl Into<BoxError>) -> Error {
                    Error::$variant { what: what.into(), source: Some(source.into()) }
                }
            )*
        }
    };
}

with_source! {
    Config: config, config_from;
    Kinesis: kinesis, kinesis_from;
    Redrive: redrive, redrive_from;
    Warehouse: warehouse, warehouse_from;
    SourceRow: source_row, source_row_from;
    RawZone: raw_zone, raw_zone_from;
    Emulate: emulate, emulate_from;
    Athena: athena, athena_from;
}

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

#[cfg(test)]
mod source_tests {
    use std::error::Error as _;

    use super::*;

    /// A dependency's error with a cause of its own.
    #[derive(Debug)]
    struct Wrapped(std::io::Error);

    impl std::fmt::Display for Wrapped {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("the request failed")
        }
    }

    impl std::error::Error for Wrapped {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            Some(&self.0)
        }
    }

    #[test]
    fn an_error_made_from_a_dependency_keeps_it_as_its_source_and_says_its_whole_chain() {
        let inner = std::io::Error::new(std::io::ErrorKind::ConnectionReset, "connection reset");
        let e = Error::kinesis_from("getting an iterator for shardId-0", Wrapped(inner));
        assert_eq!(
            e.to_string(),
            "kinesis: getting an iterator for shardId-0: the request failed: connection reset"
        );
        let source = e.source().expect("the source is kept");
        assert!(source.downcast_ref::<Wrapped>().is_some());
        let cause = source.source().expect("and its own cause");
        assert!(cause.downcast_ref::<std::io::Error>().is_some());
    }

    #[test]
    fn an_error_that_says_only_what_went_wrong_has_no_source() {
        let e = Error::warehouse("s3://b: unsupported scheme");
        assert_eq!(e.to_string(), "warehouse s3://b: unsupported scheme");
        assert!(e.source().is_none());
        let e = Error::redrive_from("a quarantine row's raw_base64", base64_error());
        assert!(
            e.to_string()
                .starts_with("redrive: a quarantine row's raw_base64: ")
        );
        assert!(e.source().is_some());
    }

    fn base64_error() -> base64::DecodeError {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD
            .decode("!")
            .expect_err("not base64")
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
