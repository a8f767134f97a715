//! `pinpipe land`: JSON-lines source files into the raw zone, as the msk-consumer lands them — for
//! loading a dump (or a benchmark's data set) before a daily run, with no broker.

use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;

use chrono::Utc;
use clap::Args;
use pinpipe::Table;
use pinpipe::config::AwsConfig;
use pinpipe::lake::Warehouse;
use pinpipe::landing::{KafkaRecord, Lander, PartitionBatch};
use pinpipe::routes::TopicRoutes;

use crate::{CliError, open};

#[derive(Debug, Args)]
pub struct Land {
    /// The warehouse root: a local directory or s3://bucket/prefix.
    #[arg(long)]
    warehouse: String,
    /// A directory with pin.jsonl, geo.jsonl and user.jsonl (one raw record per line).
    #[arg(long)]
    source: PathBuf,
    /// Topics are <prefix>.pin, <prefix>.geo and <prefix>.user.
    #[arg(long, default_value = "local")]
    topic_prefix: String,
    /// Partitions per topic: line i goes to partition i % partitions, at the next offset.
    #[arg(long, default_value_t = 1)]
    partitions: u32,
    /// Records per raw object (one Lambda batch).
    #[arg(long, default_value_t = 10_000)]
    records_per_object: usize,
}

pub fn land(args: Land, stderr: &mut dyn Write) -> Result<(), CliError> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let partitions = args.partitions.max(1) as usize;
    let per_object = args.records_per_object.max(1);
    runtime.block_on(async {
        let warehouse = Warehouse::open(&args.warehouse, &AwsConfig::from_env())?;
        let mut lander = Lander::new(warehouse, TopicRoutes::default())?;
        for table in Table::ALL {
            let path = args.source.join(format!("{table}.jsonl"));
            let topic = format!("{}.{table}", args.topic_prefix);
            let mut pending: Vec<Vec<KafkaRecord>> = vec![Vec::new(); partitions];
            let mut next_offset = vec![0i64; partitions];
            let (mut records, mut objects, mut quarantined) = (0u64, 0u64, 0u64);
            let flush = async |lander: &mut Lander, partition: usize, batch: Vec<KafkaRecord>| {
                let batch = PartitionBatch {
                    topic: topic.clone(),
                    partition: partition as i32,
                    records: batch,
                };
                let report = lander.land(&batch, Utc::now()).await?;
                Ok::<_, pinpipe::Error>((report.objects.len() as u64, report.quarantined))
            };
            for (i, line) in BufReader::new(open(&path)?).split(b'\n').enumerate() {
                let line = line.map_err(|source| CliError::File {
                    path: path.clone(),
                    source,
                })?;
                if line.iter().all(u8::is_ascii_whitespace) {
                    continue;
                }
                let partition = i % partitions;
                pending[partition].push(KafkaRecord {
                    offset: next_offset[partition],
                    value: Some(line),
                });
                next_offset[partition] += 1;
                records += 1;
                if pending[partition].len() >= per_object {
                    let batch = std::mem::take(&mut pending[partition]);
                    let (o, q) = flush(&mut lander, partition, batch).await?;
                    objects += o;
                    quarantined += q;
                }
            }
            for (partition, batch) in pending.into_iter().enumerate() {
                if !batch.is_empty() {
                    let (o, q) = flush(&mut lander, partition, batch).await?;
                    objects += o;
                    quarantined += q;
                }
            }
            writeln!(
                stderr,
                "{topic}: {records} records in {objects} new raw objects ({quarantined} quarantined)"
            )?;
        }
        Ok::<_, CliError>(())
    })
}
