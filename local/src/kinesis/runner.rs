//! A local stand-in for Lambda's Kinesis event source mapping: polls every shard of the given
//! streams with GetShardIterator/GetRecords, builds the `KinesisEvent` Lambda would send, invokes the
//! function, and moves a shard on only after its batch succeeded or was discarded. At least once,
//! like AWS: a failed invocation is retried with the same batch (split in two first, with
//! `BisectBatchOnFunctionError`; splitting uses up no retry); a partial batch response retries from
//! the lowest failed sequence number. A batch out of retries (`MaximumRetryAttempts`) or with
//! records past `MaximumRecordAgeInSeconds` is discarded to the on-failure destination, written as
//! Lambda writes it to S3 ([`pinpipe::failed_batch`]); with no destination the runner stops instead
//! (nothing is skipped locally). One batch in flight per shard; shards run concurrently.

use std::collections::{BTreeMap, VecDeque};
use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_sdk_kinesis::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_kinesis::types::{Record, ShardIteratorType};
use futures::future::try_join_all;
use serde_json::Value;
use tracing::{debug, info, warn};

use super::event::{EventRecord, kinesis_event};
use pinpipe::failed_batch::{self, Condition, Discarded};
use pinpipe::{Error, Result};

/// A mapping's on-failure destination: where a discarded batch's invocation record is written
/// (the lake's bucket on AWS; [`pinpipe::lake::Warehouse`] implements it for a bucket or directory).
pub trait OnFailure: Send + Sync {
    fn put<'a>(
        &'a self,
        key: String,
        body: Vec<u8>,
    ) -> Pin<Box<dyn Future<Output = Result<()>> + Send + 'a>>;
}

pub use crate::invoke::Invoke;

/// Where a shard without a checkpoint starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StartingPosition {
    TrimHorizon,
    Latest,
}

/// The event source mapping's settings (the same names as in `template.yaml`).
#[derive(Clone, Debug)]
pub struct RunnerOptions {
    pub streams: Vec<String>,
    /// BatchSize: records per invocation, at most 10,000.
    pub batch_size: usize,
    /// MaximumBatchingWindowInSeconds: how long to gather records before invoking with fewer than
    /// `batch_size`.
    pub batching_window: Duration,
    pub starting_position: StartingPosition,
    /// Pause between polls of a shard that has nothing new (AWS polls about once a second).
    pub poll_interval: Duration,
    /// MaximumRetryAttempts: `None` retries until the batch succeeds or its records are too old
    /// (AWS's -1). When exhausted the batch goes to the on-failure destination; without one the
    /// runner stops with an error and does not move the shard on.
    pub max_retries: Option<u32>,
    /// MaximumRecordAgeInSeconds: records older than this (by their arrival in the stream) are
    /// discarded to the on-failure destination without an invocation; `None` = AWS's -1.
    pub max_record_age: Option<Duration>,
    /// BisectBatchOnFunctionError: a failed invocation splits its batch in two before retrying.
    pub bisect_on_function_error: bool,
    /// The longest pause between two attempts at a batch (the pause doubles from 100 ms).
    pub max_backoff: Duration,
    /// A file keeping each shard's last acknowledged sequence number across runs.
    pub checkpoints: Option<PathBuf>,
    /// Stop once every shard has been read to its end (tests, backfills); else poll forever.
    pub until_caught_up: bool,
}

impl Default for RunnerOptions {
    fn default() -> Self {
        RunnerOptions {
            streams: Vec::new(),
            batch_size: 100,
            batching_window: Duration::ZERO,
            starting_position: StartingPosition::TrimHorizon,
            poll_interval: Duration::from_millis(250),
            max_retries: None,
            max_record_age: Some(Duration::from_secs(86_400)),
            bisect_on_function_error: true,
            max_backoff: Duration::from_secs(5),
            checkpoints: None,
            until_caught_up: false,
        }
    }
}

/// Each shard's last acknowledged sequence number, by `stream/shard`; saved atomically.
#[derive(Debug, Default)]
pub struct ShardCheckpoints {
    path: Option<PathBuf>,
    positions: Mutex<BTreeMap<String, String>>,
}

impl ShardCheckpoints {
    pub fn load(path: Option<&Path>) -> Result<Self> {
        let positions = match path {
            Some(p) if p.exists() => serde_json::from_slice(&std::fs::read(p)?)
                .map_err(|e| Error::kinesis_from(format!("checkpoint file {}", p.display()), e))?,
            _ => BTreeMap::new(),
        };
        Ok(ShardCheckpoints {
            path: path.map(Path::to_path_buf),
            positions: Mutex::new(positions),
        })
    }

    pub fn get(&self, stream: &str, shard: &str) -> Option<String> {
        let positions = self.positions.lock().unwrap_or_else(|e| e.into_inner());
        positions.get(&format!("{stream}/{shard}")).cloned()
    }

    fn set(&self, stream: &str, shard: &str, sequence_number: &str) -> Result<()> {
        let mut positions = self.positions.lock().unwrap_or_else(|e| e.into_inner());
        positions.insert(format!("{stream}/{shard}"), sequence_number.to_owned());
        if let Some(path) = &self.path {
            let text = serde_json::to_vec_pretty(&*positions).map_err(std::io::Error::from)?;
            let tmp = path.with_extension("tmp");
            std::fs::write(&tmp, text)?;
            std::fs::rename(&tmp, path)?;
        }
        Ok(())
    }
}

/// What the runner did for one shard.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ShardSummary {
    pub stream: String,
    pub shard: String,
    /// Batches acknowledged.
    pub batches: u64,
    /// Records acknowledged.
    pub records: u64,
    /// Invocations made, retries included.
    pub invocations: u64,
    /// Invocations that failed as a whole and were retried.
    pub failed_invocations: u64,
    /// Answers that listed batch item failures.
    pub partial_failures: u64,
    /// Batches split in two after a failed invocation.
    pub bisections: u64,
    /// Batches (or parts of one) discarded to the on-failure destination, and their records.
    pub discarded_batches: u64,
    pub discarded_records: u64,
    pub last_sequence: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct RunSummary {
    pub shards: Vec<ShardSummary>,
    pub elapsed: Duration,
}

impl RunSummary {
    pub fn records(&self) -> u64 {
        self.shards.iter().map(|s| s.records).sum()
    }
}

/// The runner: a Kinesis client, the function to invoke, the mapping's settings.
pub struct Runner<I> {
    client: aws_sdk_kinesis::Client,
    invoker: I,
    options: RunnerOptions,
    region: String,
    on_failure: Option<Arc<dyn OnFailure>>,
}

struct Shard {
    stream: String,
    arn: String,
    id: String,
    /// The stream's mapping, as the destination's keys name it.
    mapping: String,
}

impl<I: Invoke> Runner<I> {
    pub fn new(client: aws_sdk_kinesis::Client, invoker: I, options: RunnerOptions) -> Self {
        let region = client
            .config()
            .region()
            .map_or_else(|| "us-east-1".to_owned(), |r| r.to_string());
        Runner {
            client,
            invoker,
            options,
            region,
            on_failure: None,
        }
    }

    /// Discarded batches go to `destination` (DestinationConfig.OnFailure).
    pub fn with_on_failure(mut self, destination: Arc<dyn OnFailure>) -> Self {
        self.on_failure = Some(destination);
        self
    }

    /// Polls every shard of the streams; returns when all are read to the end (with
    /// `until_caught_up`), or with an error when a batch ran out of retries.
    pub async fn run(&self) -> Result<RunSummary> {
        if self.options.batch_size == 0 || self.options.batch_size > 10_000 {
            return Err(Error::kinesis(format!(
                "batch size {} is outside 1..=10000",
                self.options.batch_size
            )));
        }
        let started = Instant::now();
        let checkpoints = ShardCheckpoints::load(self.options.checkpoints.as_deref())?;
        let mut shards = Vec::new();
        for stream in &self.options.streams {
            shards.extend(self.shards(stream).await?);
        }
        let summaries = try_join_all(
            shards
                .iter()
                .map(|shard| self.run_shard(shard, &checkpoints)),
        )
        .await?;
        Ok(RunSummary {
            shards: summaries,
            elapsed: started.elapsed(),
        })
    }

    async fn shards(&self, stream: &str) -> Result<Vec<Shard>> {
        let summary = self
            .client
            .describe_stream_summary()
            .stream_name(stream)
            .send()
            .await
            .map_err(|e| kinesis_error(&format!("describing stream {stream}"), e))?;
        let arn = summary
            .stream_description_summary()
            .map(|d| d.stream_arn().to_owned())
            .unwrap_or_else(|| {
                format!(
                    "arn:aws:kinesis:{}:000000000000:stream/{stream}",
                    self.region
                )
            });
        let mapping = failed_batch::random_uuid();
        let mut shards = Vec::new();
        let mut next_token: Option<String> = None;
        loop {
            let request = match &next_token {
                Some(token) => self.client.list_shards().next_token(token),
                None => self.client.list_shards().stream_name(stream),
            };
            let page = request
                .send()
                .await
                .map_err(|e| kinesis_error(&format!("listing shards of {stream}"), e))?;
            for shard in page.shards() {
                shards.push(Shard {
                    stream: stream.to_owned(),
                    arn: arn.clone(),
                    id: shard.shard_id().to_owned(),
                    mapping: mapping.clone(),
                });
            }
            next_token = page.next_token().map(str::to_owned);
            if next_token.is_none() {
                break;
            }
        }
        Ok(shards)
    }

    /// A shard iterator after `after` (or at the starting position), riding out what passes — a
    /// dropped connection, a throttle, an endpoint down for a while — with backoff, as Lambda's
    /// pollers do; only what no retry can fix (the stream or shard gone, a request refused) ends
    /// the shard.
    async fn iterator(&self, shard: &Shard, after: Option<&str>) -> Result<Option<String>> {
        let mut failures = 0_u32;
        loop {
            let request = self
                .client
                .get_shard_iterator()
                .stream_name(&shard.stream)
                .shard_id(&shard.id);
            let request = match (after, self.options.starting_position) {
                (Some(seq), _) => request
                    .shard_iterator_type(ShardIteratorType::AfterSequenceNumber)
                    .starting_sequence_number(seq),
                (None, StartingPosition::TrimHorizon) => {
                    request.shard_iterator_type(ShardIteratorType::TrimHorizon)
                }
                (None, StartingPosition::Latest) => {
                    request.shard_iterator_type(ShardIteratorType::Latest)
                }
            };
            match request.send().await {
                Ok(answer) => return Ok(answer.shard_iterator().map(str::to_owned)),
                Err(e) if passing(&e) => {
                    failures += 1;
                    let pause = backoff(failures).min(self.options.max_backoff);
                    let e = kinesis_error("getting an iterator", e);
                    warn!(stream = %shard.stream, shard = %shard.id, error = %e, failures, ?pause, "GetShardIterator failed; retrying.");
                    tokio::time::sleep(pause).await;
                }
                Err(e) => {
                    return Err(kinesis_error(
                        &format!("getting an iterator for {}/{}", shard.stream, shard.id),
                        e,
                    ));
                }
            }
        }
    }

    async fn run_shard(
        &self,
        shard: &Shard,
        checkpoints: &ShardCheckpoints,
    ) -> Result<ShardSummary> {
        let mut summary = ShardSummary {
            stream: shard.stream.clone(),
            shard: shard.id.clone(),
            ..ShardSummary::default()
        };
        let mut acked = checkpoints.get(&shard.stream, &shard.id);
        let mut iterator = self.iterator(shard, acked.as_deref()).await?;
        let mut buffer: Vec<EventRecord> = Vec::new();
        let mut gathering_since: Option<Instant> = None;
        let mut read_errors = 0_u32;
        loop {
            let mut caught_up = true;
            if let Some(it) = iterator.clone() {
                let room = (self.options.batch_size - buffer.len()).max(1) as i32;
                match self
                    .client
                    .get_records()
                    .shard_iterator(it)
                    .limit(room)
                    .send()
                    .await
                {
                    Ok(answer) => {
                        read_errors = 0;
                        // Kinesis may answer empty mid-shard: trust MillisBehindLatest when given
                        caught_up = match answer.millis_behind_latest() {
                            Some(ms) => ms == 0,
                            None => answer.records().is_empty(),
                        };
                        buffer.extend(answer.records().iter().map(event_record));
                        iterator = answer.next_shard_iterator().map(str::to_owned);
                    }
                    Err(e) => {
                        // an expired iterator or a throttle: start again after what is buffered
                        read_errors += 1;
                        let e = kinesis_error("reading records", e);
                        warn!(stream = %shard.stream, shard = %shard.id, error = %e, "GetRecords failed; re-reading.");
                        tokio::time::sleep(backoff(read_errors).min(self.options.max_backoff))
                            .await;
                        let after = buffer
                            .last()
                            .map(|r| r.sequence_number.clone())
                            .or(acked.clone());
                        iterator = self.iterator(shard, after.as_deref()).await?;
                        continue;
                    }
                }
            }
            let closed = iterator.is_none();
            if buffer.is_empty() {
                if closed || (caught_up && self.options.until_caught_up) {
                    return Ok(summary);
                }
                tokio::time::sleep(self.options.poll_interval).await;
                continue;
            }
            let since = *gathering_since.get_or_insert_with(Instant::now);
            let full = buffer.len() >= self.options.batch_size;
            let window_over = since.elapsed() >= self.options.batching_window;
            if !(full || window_over || closed || (caught_up && self.options.until_caught_up)) {
                if caught_up {
                    // poll again, but no later than the window closes: the batch goes then
                    let left = self.options.batching_window.saturating_sub(since.elapsed());
                    tokio::time::sleep(self.options.poll_interval.min(left)).await;
                }
                continue;
            }
            let take = buffer.len().min(self.options.batch_size);
            let batch: Vec<EventRecord> = buffer.drain(..take).collect();
            gathering_since = None;
            self.deliver(shard, batch, &mut summary).await?;
            acked = summary.last_sequence.clone();
            if let Some(seq) = &acked {
                checkpoints.set(&shard.stream, &shard.id, seq)?;
            }
        }
    }

    /// Invokes until the batch is acknowledged or discarded: a failed invocation retries the same
    /// records (halved first, with bisection); a partial failure retries from the lowest failed
    /// sequence number on; records past the maximum age or out of retries go to the destination.
    async fn deliver(
        &self,
        shard: &Shard,
        batch: Vec<EventRecord>,
        summary: &mut ShardSummary,
    ) -> Result<()> {
        let last = batch.last().map(|r| r.sequence_number.clone());
        let total = batch.len() as u64;
        let mut queue: VecDeque<Vec<EventRecord>> = VecDeque::from([batch]);
        'parts: while let Some(mut pending) = queue.pop_front() {
            let mut retries = 0_u32;
            let mut invocations = 0_u32;
            let mut function_error: Option<&'static str>;
            while !pending.is_empty() {
                let expired = self.expired(&pending);
                if expired > 0 {
                    let old: Vec<EventRecord> = pending.drain(..expired).collect();
                    let discarded = (Condition::RecordAgeExceeded, invocations, None);
                    self.discard(shard, &old, discarded, summary).await?;
                    continue;
                }
                let event = kinesis_event(&shard.arn, &self.region, &shard.id, &pending);
                summary.invocations += 1;
                invocations += 1;
                match self.invoker.invoke(event).await {
                    Ok(answer) => match first_failed(&answer, &pending) {
                        None => break,
                        Some(index) => {
                            summary.partial_failures += 1;
                            function_error = None;
                            pending.drain(..index);
                        }
                    },
                    Err(e) => {
                        summary.failed_invocations += 1;
                        warn!(stream = %shard.stream, shard = %shard.id, error = %e, "Invocation failed; retrying the batch.");
                        if self.options.bisect_on_function_error && pending.len() > 1 {
                            // splitting uses up no retry: each half starts afresh
                            summary.bisections += 1;
                            let second = pending.split_off(pending.len() / 2);
                            queue.push_front(second);
                            queue.push_front(pending);
                            continue 'parts;
                        }
                        function_error = Some("Unhandled");
                    }
                }
                retries += 1;
                if self.options.max_retries.is_some_and(|max| retries > max) {
                    let discarded = (
                        Condition::RetryAttemptsExhausted,
                        invocations,
                        function_error,
                    );
                    self.discard(shard, &pending, discarded, summary).await?;
                    break;
                }
                debug!(stream = %shard.stream, shard = %shard.id, retries, records = pending.len(), "Retrying.");
                tokio::time::sleep(backoff(retries).min(self.options.max_backoff)).await;
            }
        }
        summary.batches += 1;
        summary.records += total;
        summary.last_sequence = last;
        info!(stream = %shard.stream, shard = %shard.id, records = total, last_sequence = summary.last_sequence.as_deref(), "Batch acknowledged.");
        Ok(())
    }

    /// How many records at the head of `pending` are older than the maximum record age.
    fn expired(&self, pending: &[EventRecord]) -> usize {
        let Some(max) = self.options.max_record_age else {
            return 0;
        };
        let now = chrono::Utc::now().timestamp_millis() as f64 / 1000.0;
        pending
            .iter()
            .take_while(|r| now - r.approximate_arrival > max.as_secs_f64())
            .count()
    }

    /// Writes `records` to the on-failure destination as Lambda would, or stops the runner when
    /// there is none: the shard stays at its last checkpoint.
    async fn discard(
        &self,
        shard: &Shard,
        records: &[EventRecord],
        (condition, invocations, function_error): (Condition, u32, Option<&str>),
        summary: &mut ShardSummary,
    ) -> Result<()> {
        let first = records.first().map_or("?", |r| r.sequence_number.as_str());
        let Some(destination) = &self.on_failure else {
            return Err(Error::kinesis(format!(
                "{}/{}: batch from sequence number {first} discarded ({}) and no on-failure destination; the shard stays at its last checkpoint",
                shard.stream,
                shard.id,
                condition.name()
            )));
        };
        let at = chrono::Utc::now();
        let event = kinesis_event(&shard.arn, &self.region, &shard.id, records);
        let function_arn = format!(
            "arn:aws:lambda:{}:000000000000:function:pinpipe-local-runner",
            self.region
        );
        let record = failed_batch::invocation_record(
            &Discarded {
                function_arn: &function_arn,
                condition,
                invocations,
                function_error,
                stream_arn: &shard.arn,
                shard: &shard.id,
                arrivals: (
                    records.first().map_or(0.0, |r| r.approximate_arrival),
                    records.last().map_or(0.0, |r| r.approximate_arrival),
                ),
                at,
            },
            &event,
        );
        let key =
            failed_batch::object_key(&shard.mapping, &shard.id, at, &failed_batch::random_uuid());
        destination
            .put(key.clone(), record.to_string().into_bytes())
            .await?;
        summary.discarded_batches += 1;
        summary.discarded_records += records.len() as u64;
        warn!(stream = %shard.stream, shard = %shard.id, records = records.len(), first_sequence = first, condition = condition.name(), object = %key, "Batch discarded to the on-failure destination.");
        Ok(())
    }
}

/// The index in `batch` to retry from, per the answer's `batchItemFailures`; `None` when all
/// succeeded. An identifier that is empty or names no record of the batch fails the whole batch.
fn first_failed(answer: &Value, batch: &[EventRecord]) -> Option<usize> {
    let failures = answer.get("batchItemFailures")?.as_array()?;
    let mut lowest: Option<usize> = None;
    for failure in failures {
        let id = failure
            .get("itemIdentifier")
            .and_then(Value::as_str)
            .unwrap_or("");
        let index = batch
            .iter()
            .position(|r| r.sequence_number == id)
            .unwrap_or(0);
        lowest = Some(lowest.map_or(index, |l| l.min(index)));
    }
    lowest
}

fn event_record(record: &Record) -> EventRecord {
    let arrival = record.approximate_arrival_timestamp().map_or(0.0, |t| {
        t.secs() as f64 + f64::from(t.subsec_nanos() / 1_000_000) / 1_000.0
    });
    EventRecord {
        partition_key: record.partition_key().unwrap_or_default().to_owned(),
        sequence_number: record.sequence_number().to_owned(),
        data: record.data().as_ref().to_vec(),
        approximate_arrival: arrival,
    }
}

fn kinesis_error(doing: &str, e: impl std::error::Error + Send + Sync + 'static) -> Error {
    Error::kinesis_from(doing, e)
}

/// Whether a Kinesis call's failure may pass: anything but a refusal no retry changes (a stream or
/// shard that does not exist, an invalid or forbidden request) or a request the SDK could not
/// build. A dropped connection, a timeout and a throttle pass.
fn passing<E: ProvideErrorMetadata, R>(e: &SdkError<E, R>) -> bool {
    match e {
        SdkError::ConstructionFailure(_) => false,
        SdkError::ServiceError(service) => !matches!(
            service.err().code(),
            Some(
                "ResourceNotFoundException" | "InvalidArgumentException" | "AccessDeniedException"
            )
        ),
        _ => true,
    }
}

/// 100 ms × 2^attempt, capped at 5 s.
fn backoff(attempt: u32) -> Duration {
    Duration::from_millis((100_u64 << attempt.min(6)).min(5_000))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn batch(seqs: &[&str]) -> Vec<EventRecord> {
        seqs.iter()
            .map(|s| EventRecord {
                partition_key: String::new(),
                sequence_number: (*s).into(),
                data: Vec::new(),
                approximate_arrival: 0.0,
            })
            .collect()
    }

    #[test]
    fn a_partial_batch_response_retries_from_the_lowest_failed_record() {
        let b = batch(&["1", "2", "3", "4"]);
        assert_eq!(first_failed(&json!({"batchItemFailures": []}), &b), None);
        assert_eq!(first_failed(&json!(null), &b), None);
        assert_eq!(
            first_failed(
                &json!({"batchItemFailures": [{"itemIdentifier": "4"}, {"itemIdentifier": "3"}]}),
                &b
            ),
            Some(2)
        );
        // an identifier the batch does not hold fails the whole batch, as AWS does
        assert_eq!(
            first_failed(&json!({"batchItemFailures": [{"itemIdentifier": "9"}]}), &b),
            Some(0)
        );
        assert_eq!(
            first_failed(
                &json!({"batchItemFailures": [{"itemIdentifier": null}]}),
                &b
            ),
            Some(0)
        );
    }

    #[test]
    fn checkpoints_survive_a_restart() {
        let dir = std::env::temp_dir().join(format!("pinpipe-ckpt-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("checkpoints.json");
        let _ = std::fs::remove_file(&path);
        let c = ShardCheckpoints::load(Some(&path)).unwrap();
        assert_eq!(c.get("s", "shardId-0"), None);
        c.set("s", "shardId-0", "42").unwrap();
        let again = ShardCheckpoints::load(Some(&path)).unwrap();
        assert_eq!(again.get("s", "shardId-0").as_deref(), Some("42"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
