//! The batch path's landing (what `msk-consumer` does): one topic partition's Kafka records → the raw
//! zone as received (spec §4), in immutable objects; values that are not JSON objects → the
//! quarantine, exactly once (the partition's last offset committed with the rows, as on the stream
//! path). Cleaning happens later, in the daily run.

use chrono::{DateTime, Utc};
use tracing::{info, warn};

use crate::lake::{Position, QuarantineWriter, RawZone, SourceKey, Warehouse};
use crate::quarantine::{QuarantineRecord, SourceRef};
use crate::record::{Reason, Rejection, check_json_object};
pub use crate::routes::TopicRoutes;
use crate::{Error, Result, Table};

/// One Kafka record as delivered: its offset and value (`None`: a record without a value).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KafkaRecord {
    pub offset: i64,
    pub value: Option<Vec<u8>>,
}

/// Records of one topic partition, in offset order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PartitionBatch {
    pub topic: String,
    pub partition: i32,
    pub records: Vec<KafkaRecord>,
}

/// What became of one partition batch.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LandingReport {
    pub topic: String,
    pub partition: i32,
    pub table: Option<Table>,
    pub first_offset: Option<i64>,
    pub last_offset: Option<i64>,
    pub records: u64,
    /// Records landed in new raw objects now.
    pub landed: u64,
    /// Records an earlier delivery had landed already (a redelivery).
    pub found: u64,
    /// Rejections added to the quarantine now.
    pub quarantined: u64,
    /// Raw objects created now.
    pub objects: Vec<String>,
}

/// Lands partition batches; keeps the quarantine handle warm between invocations.
#[derive(Debug)]
pub struct Lander {
    raw: RawZone,
    routes: TopicRoutes,
    quarantine: QuarantineWriter,
}

impl Lander {
    pub fn new(warehouse: Warehouse, routes: TopicRoutes) -> Result<Self> {
        Ok(Lander {
            raw: RawZone::new(&warehouse)?,
            routes,
            quarantine: QuarantineWriter::new(&warehouse),
        })
    }

    /// Lands one partition batch. Bad values are quarantined (data, not errors); an `Err` is an
    /// infrastructure failure (the store, the quarantine commit, a topic that feeds no table,
    /// offsets out of order) after which the batch must be delivered again: landing is idempotent,
    /// so a redelivery adds only what this attempt did not.
    pub async fn land(
        &mut self,
        batch: &PartitionBatch,
        now: DateTime<Utc>,
    ) -> Result<LandingReport> {
        let table = self.routes.table_for(&batch.topic);
        let mut report = LandingReport {
            topic: batch.topic.clone(),
            partition: batch.partition,
            table,
            first_offset: batch.records.first().map(|r| r.offset),
            last_offset: batch.records.last().map(|r| r.offset),
            records: batch.records.len() as u64,
            ..LandingReport::default()
        };
        if batch.records.is_empty() {
            return Ok(report);
        }
        let result = match table {
            Some(table) => self.try_land(table, batch, now, &mut report).await,
            None => Err(Error::UnknownTopic(batch.topic.clone())),
        };
        if let Err(e) = result {
            self.quarantine.reload();
            warn!(topic = %batch.topic, partition = batch.partition, first_offset = report.first_offset, error = %e, "Partition batch failed; the whole batch must be delivered again.");
            return Err(e);
        }
        info!(
            topic = %report.topic,
            partition = report.partition,
            first_offset = report.first_offset,
            last_offset = report.last_offset,
            records = report.records,
            landed = report.landed,
            found = report.found,
            quarantined = report.quarantined,
            objects = report.objects.len(),
            "Landed partition batch."
        );
        Ok(report)
    }

    async fn try_land(
        &mut self,
        table: Table,
        batch: &PartitionBatch,
        now: DateTime<Utc>,
        report: &mut LandingReport,
    ) -> Result<()> {
        if batch.records.windows(2).any(|w| w[0].offset >= w[1].offset) {
            return Err(Error::InvalidOffsets(format!(
                "{}-{}: offsets are not increasing",
                batch.topic, batch.partition
            )));
        }
        let mut good: Vec<(i64, &[u8])> = Vec::with_capacity(batch.records.len());
        let mut rejected: Vec<(&KafkaRecord, Rejection)> = Vec::new();
        for record in &batch.records {
            match &record.value {
                Some(value) => match check_json_object(table, value) {
                    Ok(()) => good.push((record.offset, value)),
                    Err(rejection) => rejected.push((record, rejection)),
                },
                None => rejected.push((
                    record,
                    Rejection {
                        table,
                        reason: Reason::NotJson,
                        field: None,
                        ind: None,
                        message: format!("{table} record has no value"),
                    },
                )),
            }
        }
        let landed = self.raw.land(&batch.topic, batch.partition, &good).await?;
        report.found = landed.records_found as u64;
        report.landed = (good.len() - landed.records_found) as u64;
        report.objects = landed.written;
        crate::failpoint::hit("after-raw-landing");
        let source = SourceKey::Kafka {
            topic: batch.topic.clone(),
            partition: batch.partition,
        };
        let last = Position::Offset(batch.records.last().map_or(0, |r| r.offset));
        let rejections = rejected
            .into_iter()
            .map(|(r, rejection)| {
                let record = QuarantineRecord::new(
                    rejection,
                    r.value.as_deref().unwrap_or_default(),
                    SourceRef::Kafka {
                        topic: batch.topic.clone(),
                        partition: batch.partition,
                        offset: r.offset,
                    },
                    now,
                );
                (Position::Offset(r.offset), record)
            })
            .collect();
        report.quarantined = self
            .quarantine
            .write_after(source, last, rejections)
            .await?
            .rows;
        Ok(())
    }
}
