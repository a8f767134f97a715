//! The warehouse root (a local directory or `s3://bucket/prefix`) and the spec §4 layout under it.

use std::collections::HashMap;
use std::fmt;

use arrow::datatypes::SchemaRef;
use deltalake::ObjectStore;
use deltalake::logstore::{StorageConfig, logstore_for};
use std::sync::Arc;
use url::Url;

use crate::config::AwsConfig;
use crate::insight::{INSIGHTS, Insight};
use crate::{Error, Result, Table};

/// A table of the lake, by its place in the layout.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TableId {
    /// `tables/batch/<table>`: cleaned by the daily run from the raw zone.
    Batch(Table),
    /// `tables/stream/<table>`: cleaned by the Kinesis consumer.
    Stream(Table),
    /// `tables/quarantine`: rejections of every path.
    Quarantine,
    /// `tables/analytics/<name>`: an insight, one partition per run date (spec §5).
    Insight(Insight),
}

impl TableId {
    /// The cleaned tables and the quarantine.
    pub const ALL: [TableId; 7] = [
        TableId::Batch(Table::Pin),
        TableId::Batch(Table::Geo),
        TableId::Batch(Table::User),
        TableId::Stream(Table::Pin),
        TableId::Stream(Table::Geo),
        TableId::Stream(Table::User),
        TableId::Quarantine,
    ];

    /// The nine insight tables, in the order they are computed.
    pub fn insights() -> impl Iterator<Item = TableId> {
        INSIGHTS.into_iter().map(TableId::Insight)
    }

    /// Every table of the lake: [`TableId::ALL`], then the insights.
    pub fn every() -> impl Iterator<Item = TableId> {
        TableId::ALL.into_iter().chain(TableId::insights())
    }

    /// The path under the warehouse root.
    pub fn path(self) -> String {
        match self {
            TableId::Batch(t) => format!("tables/batch/{t}"),
            TableId::Stream(t) => format!("tables/stream/{t}"),
            TableId::Quarantine => "tables/quarantine".to_owned(),
            TableId::Insight(i) => format!("tables/analytics/{}", i.name),
        }
    }

    /// The name SQL sees: `batch_pin`, `stream_geo`, `quarantine`, an insight's name.
    pub fn sql_name(self) -> String {
        match self {
            TableId::Batch(t) => format!("batch_{t}"),
            TableId::Stream(t) => format!("stream_{t}"),
            TableId::Quarantine => "quarantine".to_owned(),
            TableId::Insight(i) => i.name.to_owned(),
        }
    }

    /// The schema a table is created with; `None` for an insight, whose first write creates it
    /// with its query's columns and `run_date`.
    pub fn schema(self) -> Option<SchemaRef> {
        match self {
            TableId::Batch(t) | TableId::Stream(t) => Some(crate::schema::schema(t)),
            TableId::Quarantine => Some(crate::schema::quarantine_schema()),
            TableId::Insight(_) => None,
        }
    }
}

impl fmt::Display for TableId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.path())
    }
}

/// The lake's root and the options to reach it.
#[derive(Clone, Debug)]
pub struct Warehouse {
    root: Url,
    options: HashMap<String, String>,
}

impl Warehouse {
    /// A warehouse at `uri`: `s3://bucket/prefix`, a `file://` URL or a local path (created if
    /// missing). S3 endpoint and credentials come from `aws`.
    pub fn open(uri: &str, aws: &AwsConfig) -> Result<Self> {
        deltalake::aws::register_handlers(None);
        let mut root = if uri.contains("://") {
            Url::parse(uri).map_err(|e| Error::warehouse_from(uri, e))?
        } else {
            std::fs::create_dir_all(uri)?;
            let path = std::fs::canonicalize(uri)?;
            Url::from_directory_path(&path)
                .map_err(|()| Error::warehouse(format!("{uri}: not an absolute directory")))?
        };
        if !root.path().ends_with('/') {
            root.set_path(&format!("{}/", root.path()));
        }
        let options = match root.scheme() {
            "s3" | "s3a" => aws.storage_options(),
            "file" => HashMap::new(),
            other => {
                return Err(Error::warehouse(format!(
                    "{uri}: unsupported scheme {other}"
                )));
            }
        };
        Ok(Warehouse { root, options })
    }

    pub fn root(&self) -> &Url {
        &self.root
    }

    pub fn storage_options(&self) -> &HashMap<String, String> {
        &self.options
    }

    /// The URL of something under the root (a table, a raw-zone prefix).
    pub fn url(&self, path: &str) -> Result<Url> {
        let mut url = self
            .root
            .join(path)
            .map_err(|e| Error::warehouse_from(path, e))?;
        if !url.path().ends_with('/') {
            url.set_path(&format!("{}/", url.path()));
        }
        Ok(url)
    }

    /// Writes (or replaces) a plain file under the warehouse root, e.g. the demo's `report.html`.
    pub async fn put_file(&self, name: &str, bytes: Vec<u8>) -> Result<()> {
        use object_store::ObjectStoreExt;
        self.object_store("")?
            .put(&object_store::path::Path::from(name), bytes.into())
            .await
            .map_err(|e| Error::store(format!("writing {name}"), e))?;
        Ok(())
    }

    /// An object store rooted at `path` under the warehouse root.
    pub fn object_store(&self, path: &str) -> Result<Arc<dyn ObjectStore>> {
        let config = StorageConfig::parse_options(self.options.clone())?;
        Ok(logstore_for(&self.url(path)?, config)?.object_store(None))
    }
}
