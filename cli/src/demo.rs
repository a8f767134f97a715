//! `pinpipe demo`: the whole pipeline on this machine, no AWS and no network — posts from a source,
//! through the real ingest handler, both paths through their real handlers (topics and streams held
//! in this process, fed to `msk-consumer` and `kinesis-consumer` as MSK and Kinesis events), a Delta
//! lake, the daily run, the nine insights printed and drawn in an HTML report.

use std::io::Write;
use std::sync::Arc;
use std::time::Instant;

use chrono::Utc;
use clap::Args;
use futures::StreamExt;
use indicatif::{ProgressBar, ProgressStyle};
use pinpipe::Table;
use pinpipe::config::{
    AwsConfig, DEFAULT_PREFIX, DailyConfig, MskConsumerConfig, SourceSpec, StreamConsumerConfig,
};
use pinpipe::emulate::{Mode, Pick, PostSource, post_requests};
use pinpipe::lake::{Warehouse, sql};
use pinpipe::routes::{self, StreamRoutes, TopicRoutes};
use pinpipe_local::MemoryLog;
use pinpipe_local::report::{self, Section};
use serde_json::Value;

use crate::CliError;

#[derive(Debug, Args)]
pub struct Demo {
    /// Where the lake and report.html go: a directory (replaced if it holds an earlier demo) or
    /// s3://bucket/prefix (S3 settings from the standard AWS environment).
    #[arg(long, default_value = "pinpipe-demo")]
    warehouse: String,
    /// `embedded` (the synthetic generator), a directory with pin.jsonl, geo.jsonl, user.jsonl
    /// (e.g. ../shared/data/source-rows), or the source database, mysql://user:password@host/db.
    #[arg(long, default_value = "embedded")]
    source: String,
    /// Posts to send (2,000 from the generator; all of a directory's or database's).
    #[arg(long)]
    posts: Option<u64>,
    /// The generator's seed.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// The run date of the insights (YYYY-MM-DD); today (UTC) when absent.
    #[arg(long)]
    date: Option<String>,
    /// Partitions per topic and shards per stream.
    #[arg(long, default_value_t = 2)]
    partitions: usize,
    /// Records per MSK and Kinesis event (the event source mappings' batch size).
    #[arg(long, default_value_t = 500)]
    batch_size: usize,
    /// Rows of each insight printed (all are in the report and the tables).
    #[arg(long, default_value_t = 5)]
    show: usize,
    /// Produce to this Kafka cluster (host:port,…; its topics <prefix>.pin|geo|user must exist) and
    /// consume it like the MSK trigger, instead of topics held in this process.
    #[arg(long)]
    brokers: Option<String>,
    /// Put to the Kinesis of the standard AWS environment (e.g. AWS_ENDPOINT_URL of moto; streams
    /// streaming-<prefix>-pin|geo|user must exist) and read it like the Kinesis trigger, instead of
    /// streams held in this process.
    #[arg(long)]
    kinesis: bool,
}

/// Marks a directory as the demo's, so a rerun may replace it.
const MARKER: &str = ".pinpipe-demo";

fn bar(len: u64, what: &str) -> ProgressBar {
    let bar = ProgressBar::new(len);
    bar.set_style(
        ProgressStyle::with_template("{spinner} {msg:<34} {bar:30} {pos}/{len} {per_sec}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar.set_message(what.to_owned());
    bar
}

fn failed(what: impl std::fmt::Display) -> CliError {
    CliError::Failed(what.to_string())
}

/// A local warehouse directory: created, or replaced when it holds an earlier demo.
fn prepare_local(dir: &std::path::Path) -> Result<(), CliError> {
    if dir.exists() {
        let empty = std::fs::read_dir(dir)?.next().is_none();
        if !empty && !dir.join(MARKER).exists() {
            return Err(failed(format!(
                "{} exists and is not an earlier demo's warehouse: give --warehouse a new directory",
                dir.display()
            )));
        }
        std::fs::remove_dir_all(dir)?;
    }
    std::fs::create_dir_all(dir)?;
    std::fs::write(
        dir.join(MARKER),
        b"written by pinpipe demo; replaced by the next one\n",
    )?;
    Ok(())
}

pub fn demo(args: Demo, stdout: &mut dyn Write, stderr: &mut dyn Write) -> Result<(), CliError> {
    let started = Instant::now();
    let aws = AwsConfig::from_env();
    if !args.warehouse.contains("://") {
        prepare_local(std::path::Path::new(&args.warehouse))?;
    }
    let prefix = DEFAULT_PREFIX;
    let topics: Vec<String> = Table::ALL
        .iter()
        .map(|t| routes::topic_name(prefix, *t))
        .collect();
    let streams: Vec<String> = Table::ALL
        .iter()
        .map(|t| routes::stream_name(prefix, *t))
        .collect();
    let topic_log = Arc::new(MemoryLog::new(topics.clone(), args.partitions));
    let stream_log = Arc::new(MemoryLog::new(streams.clone(), args.partitions));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let kinesis_client = if args.kinesis {
        Some(runtime.block_on(pinpipe::kinesis::kinesis_client(&aws)))
    } else {
        None
    };
    let topic_sink: Arc<dyn pinpipe::sink::TopicSink> = match &args.brokers {
        Some(brokers) => Arc::new(pinpipe::sink::KafkaSink::new(
            brokers,
            &[("broker.address.family".into(), "v4".into())],
            None,
        )?),
        None => topic_log.clone(),
    };
    let stream_sink: Arc<dyn pinpipe::sink::StreamSink> = match &kinesis_client {
        Some(client) => Arc::new(pinpipe::sink::KinesisSink::new(client.clone())),
        None => stream_log.clone(),
    };
    let ingest = ingest_api::State::with_sinks(
        topic_sink,
        stream_sink,
        TopicRoutes::default(),
        StreamRoutes::default(),
    );
    let run_date = args.date.clone();
    let (summary, sections) = runtime.block_on(async {
        // 1. the source, posted through the ingest handler as the original emulator posts
        let spec = SourceSpec::parse(&args.source);
        let source = PostSource::open(&spec, args.seed, Pick::InOrder, None, &aws).await?;
        let limit = match spec {
            SourceSpec::Embedded => Some(args.posts.unwrap_or(2_000)),
            _ => args.posts,
        };
        let mut posts = source.payloads(limit).await?;
        let sending = bar(limit.unwrap_or(0), "posting through the ingest API");
        let (mut sent, mut accepted) = (0_u64, 0_u64);
        while let Some(payloads) = posts.next().await {
            for request in post_requests(&payloads?, prefix, Mode::Both) {
                let answer = ingest_api::respond(
                    &ingest,
                    request.method,
                    &request.path,
                    Some(request.content_type),
                    &request.body,
                )
                .await;
                if answer.status == 200 {
                    accepted += 1;
                } else {
                    writeln!(stderr, "  {} {}: {}", answer.status, request.path, answer.body)?;
                }
            }
            sent += 1;
            sending.inc(1);
        }
        sending.finish_and_clear();
        writeln!(
            stderr,
            "posted {sent} posts: {accepted} of {} requests accepted (batch and stream mode)",
            sent * 6
        )?;

        // 2. the batch path: each topic partition as MSK events → msk-consumer → the raw zone
        let msk = msk_consumer::State::new(
            &MskConsumerConfig {
                warehouse: args.warehouse.clone(),
                routes: TopicRoutes::default(),
                metrics: pinpipe::metrics::Emf::Off,
                aws: aws.clone(),
            },
        )
        .map_err(failed)?;
        if let Some(brokers) = &args.brokers {
            let spinner = ProgressBar::new_spinner();
            spinner.set_message("msk-consumer: landing raw batches from Kafka");
            spinner.enable_steady_tick(std::time::Duration::from_millis(120));
            let options = pinpipe_local::kafka::KafkaRunnerOptions {
                brokers: brokers.clone(),
                topics: topics.clone(),
                group_id: format!("pinpipe-demo-{}", Utc::now().timestamp_millis()),
                batch_size: args.batch_size.max(1),
                batching_window: std::time::Duration::from_millis(200),
                max_retries: Some(5),
                idle_exit: Some(std::time::Duration::from_secs(3)),
                ..pinpipe_local::kafka::KafkaRunnerOptions::default()
            };
            let landed = pinpipe_local::kafka::KafkaRunner::new(crate::consume_kafka::InProcess(msk), options)
                .await?
                .run()
                .await?;
            spinner.finish_and_clear();
            writeln!(stderr, "msk-consumer landed {} records from {brokers}", landed.records())?;
        } else {
        let landing = bar(sent * 3, "msk-consumer: landing raw batches");
        for topic in &topics {
            for (partition, records) in topic_log.partitions(topic).unwrap_or_default().iter().enumerate() {
                for (chunk_no, chunk) in records.chunks(args.batch_size.max(1)).enumerate() {
                    let first = (chunk_no * args.batch_size.max(1)) as i64;
                    let now = Utc::now().timestamp_millis();
                    let events: Vec<pinpipe_local::kafka::EventRecord> = chunk
                        .iter()
                        .enumerate()
                        .map(|(i, r)| pinpipe_local::kafka::EventRecord {
                            topic: topic.clone(),
                            partition: partition as i32,
                            offset: first + i as i64,
                            timestamp: now,
                            log_append_time: false,
                            key: r.key.clone().map(String::into_bytes),
                            value: Some(r.value.clone()),
                            headers: Vec::new(),
                        })
                        .collect();
                    let event = pinpipe_local::kafka::kafka_event(
                        "arn:aws:kafka:local:000000000000:cluster/pinpipe-demo/local",
                        "in-process",
                        &events,
                    );
                    let answer = pinpipe_local::invoke::call_json(|e| msk_consumer::handle(&msk, e), event).await.map_err(failed)?;
                    if answer["batchItemFailures"].as_array().is_some_and(|f| !f.is_empty()) {
                        return Err(failed(format!("msk-consumer reported failures: {answer}")));
                    }
                    landing.inc(chunk.len() as u64);
                }
            }
        }
        landing.finish_and_clear();
        }

        // 3. the stream path: each shard as Kinesis events → kinesis-consumer → the stream tables
        let kinesis = kinesis_consumer::State::new(
            &StreamConsumerConfig {
                warehouse: args.warehouse.clone(),
                routes: StreamRoutes::default(),
                metrics: pinpipe::metrics::Emf::Off,
                aws: aws.clone(),
            },
        )
        .map_err(failed)?;
        if let Some(client) = &kinesis_client {
            let spinner = ProgressBar::new_spinner();
            spinner.set_message("kinesis-consumer: cleaning the streams");
            spinner.enable_steady_tick(std::time::Duration::from_millis(120));
            let read = pinpipe_local::kinesis::Runner::new(
                client.clone(),
                crate::consume::InProcess(kinesis),
                pinpipe_local::kinesis::RunnerOptions {
                    streams: streams.clone(),
                    batch_size: args.batch_size.max(1),
                    until_caught_up: true,
                    poll_interval: std::time::Duration::from_millis(50),
                    ..pinpipe_local::kinesis::RunnerOptions::default()
                },
            )
            .run()
            .await?;
            spinner.finish_and_clear();
            writeln!(stderr, "kinesis-consumer cleaned {} records from Kinesis", read.records())?;
        } else {
        let streaming = bar(sent * 3, "kinesis-consumer: cleaning streams");
        for stream in &streams {
            for (shard, records) in stream_log.partitions(stream).unwrap_or_default().iter().enumerate() {
                for (chunk_no, chunk) in records.chunks(args.batch_size.max(1)).enumerate() {
                    let first = chunk_no * args.batch_size.max(1);
                    let arrival = Utc::now().timestamp_millis() as f64 / 1000.0;
                    let events: Vec<pinpipe_local::kinesis::EventRecord> = chunk
                        .iter()
                        .enumerate()
                        .map(|(i, r)| pinpipe_local::kinesis::EventRecord {
                            partition_key: r.key.clone().unwrap_or_else(|| "0".into()),
                            sequence_number: format!("{:056}", first + i),
                            data: r.value.clone(),
                            approximate_arrival: arrival,
                        })
                        .collect();
                    let event = pinpipe_local::kinesis::kinesis_event(
                        &format!("arn:aws:kinesis:local:000000000000:stream/{stream}"),
                        "local",
                        &format!("shardId-{shard:012}"),
                        &events,
                    );
                    let answer = pinpipe_local::invoke::call_json(|e| kinesis_consumer::handle(&kinesis, e), event)
                        .await
                        .map_err(failed)?;
                    if answer["batchItemFailures"].as_array().is_some_and(|f| !f.is_empty()) {
                        return Err(failed(format!("kinesis-consumer reported failures: {answer}")));
                    }
                    streaming.inc(chunk.len() as u64);
                }
            }
        }
        streaming.finish_and_clear();
        }

        // 4. the daily run: clean the raw zone, the nine insights, maintenance
        let spinner = ProgressBar::new_spinner();
        spinner.set_message("daily-analytics: clean, insights, maintenance");
        spinner.enable_steady_tick(std::time::Duration::from_millis(120));
        let daily = daily_analytics::State::new(
            &DailyConfig {
                warehouse: args.warehouse.clone(),
                routes: TopicRoutes::default(),
                metrics: pinpipe::metrics::Emf::Off,
                budget_seconds: 600,
                chunk_mb: pinpipe::daily::DEFAULT_CHUNK_MB,
                athena: None,
                aws: aws.clone(),
            },
        )
        .map_err(failed)?;
        let request = daily_analytics::DailyRequest {
            date: run_date,
            time: None,
            stages: None,
        };
        let report = daily.run(&request, Utc::now()).await.map_err(failed)?;
        spinner.finish_and_clear();
        let summary = daily_analytics::DailySummary::from(&report);

        // 5. the insights, read back from their tables
        let warehouse = Warehouse::open(&args.warehouse, &aws)?;
        let (ctx, _) = sql::session(&warehouse).await?;
        let mut sections = Vec::new();
        for name in pinpipe::insight::INSIGHTS.map(|i| i.name) {
            let batches = sql::query(
                &ctx,
                &format!(
                    "SELECT * FROM {name} WHERE run_date = DATE '{}'",
                    summary.run_date
                ),
            )
            .await?;
            sections.push((name, sql::json_rows(&batches)));
        }
        let stream_rows = sql::query(&ctx, "SELECT count(*) AS n FROM stream_pin").await?;
        let stream_rows = sql::json_rows(&stream_rows).1;
        writeln!(
            stderr,
            "stream tables: {} pin rows; batch tables: {} rows written from {} raw records ({} quarantined)",
            stream_rows.first().and_then(|r| r.first()).cloned().unwrap_or(Value::Null),
            summary.rows_written,
            summary.records_in,
            summary.quarantined
        )?;
        Ok::<_, CliError>((summary, sections))
    })?;

    let views: Vec<Section<'_>> = sections
        .iter()
        .map(|(name, (columns, rows))| Section {
            insight: name,
            columns,
            rows,
        })
        .collect();
    let context = format!(
        "{} raw records cleaned into {} batch rows; run date {}; warehouse {}",
        summary.records_in, summary.rows_written, summary.run_date, args.warehouse
    );
    let html = report::html("pinpipe demo: the nine insights", &context, &views);
    runtime.block_on(
        Warehouse::open(&args.warehouse, &aws)?.put_file("report.html", html.into_bytes()),
    )?;
    // the report first: a reader that stops early (`| head`) still gets it
    for view in &views {
        writeln!(stdout, "{}", report::text(view, args.show))?;
    }
    let report_at = format!("{}/report.html", args.warehouse.trim_end_matches('/'));
    writeln!(
        stderr,
        "the nine insights are tables under {}/tables/analytics; the report: {report_at} ({:.1} s in all)",
        args.warehouse.trim_end_matches('/'),
        started.elapsed().as_secs_f64()
    )?;
    Ok(())
}
