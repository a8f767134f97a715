//! How streams and topics are named, both ways, **pure**: the original's names for a table
//! (`<prefix>.<table>` topics, `streaming-<prefix>-<table>` streams), the table a name feeds
//! (configured names first: `PINPIPE_TOPIC_TABLES`, `PINPIPE_STREAM_TABLES`), and the stack's
//! physical stream for a public name (`PINPIPE_KINESIS_STREAMS`).

use std::collections::HashMap;

use crate::{Error, Result, Table};

/// The original's topic for `table`: `<prefix>.<table>` (e.g. `12471ce1b695.pin`).
pub fn topic_name(prefix: &str, table: Table) -> String {
    format!("{prefix}.{table}")
}

/// The original's stream for `table`: `streaming-<prefix>-<table>`.
pub fn stream_name(prefix: &str, table: Table) -> String {
    format!("streaming-{prefix}-{table}")
}

/// Which table a stream feeds: configured names first, else the original's naming,
/// `streaming-<prefix>-<table>`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StreamRoutes {
    configured: HashMap<String, Table>,
}

impl StreamRoutes {
    /// Routes from `stream=table` pairs separated by commas (`PINPIPE_STREAM_TABLES`); empty → none.
    pub fn parse(mapping: &str) -> Result<Self> {
        let mut configured = HashMap::new();
        for pair in mapping.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (stream, table) = pair.split_once('=').ok_or_else(|| {
                Error::config(format!("stream route {pair:?}: expected STREAM=TABLE"))
            })?;
            configured.insert(stream.trim().to_owned(), table.trim().parse()?);
        }
        Ok(StreamRoutes { configured })
    }

    pub fn table_for(&self, stream: &str) -> Option<Table> {
        if let Some(table) = self.configured.get(stream) {
            return Some(*table);
        }
        let rest = stream.strip_prefix("streaming-")?;
        let (_prefix, table) = rest.rsplit_once('-')?;
        table.parse().ok()
    }
}

/// The Kinesis stream the API puts a request for a stream name into: the name itself, unless
/// `PINPIPE_KINESIS_STREAMS` maps it (`public=physical` pairs). The template's streams carry the
/// stack's `Stage` (two stages in one account and region must not share a stream) while clients keep
/// posting to the original's `streaming-<prefix>-<table>`; a name not mapped is put as it is, so one
/// outside the function's grants is still refused.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StreamNames {
    physical: HashMap<String, String>,
}

impl StreamNames {
    /// Names from `public=physical` pairs separated by commas; empty → none.
    pub fn parse(mapping: &str) -> Result<Self> {
        let mut physical = HashMap::new();
        for pair in mapping.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (public, name) = pair
                .split_once('=')
                .map(|(p, n)| (p.trim(), n.trim()))
                .filter(|(p, n)| !p.is_empty() && !n.is_empty())
                .ok_or_else(|| {
                    Error::config(format!("stream name {pair:?}: expected PUBLIC=PHYSICAL"))
                })?;
            physical.insert(public.to_owned(), name.to_owned());
        }
        Ok(StreamNames { physical })
    }

    /// The stream to put into for `name`.
    pub fn physical<'a>(&'a self, name: &'a str) -> &'a str {
        self.physical.get(name).map_or(name, String::as_str)
    }
}

/// Which table a Kafka topic feeds: configured names first, else the original's naming,
/// `<prefix>.<table>` (e.g. `12471ce1b695.pin`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TopicRoutes {
    configured: HashMap<String, Table>,
}

impl TopicRoutes {
    /// Routes from `topic=table` pairs separated by commas (`PINPIPE_TOPIC_TABLES`); empty → none.
    pub fn parse(mapping: &str) -> Result<Self> {
        let streams = StreamRoutes::parse(mapping)?;
        Ok(TopicRoutes {
            configured: streams.configured,
        })
    }

    pub fn table_for(&self, topic: &str) -> Option<Table> {
        if let Some(table) = self.configured.get(topic) {
            return Some(*table);
        }
        let (_prefix, table) = topic.rsplit_once('.')?;
        table.parse().ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_route_by_the_original_naming_or_by_configuration() {
        let routes = StreamRoutes::parse("clicks=geo, people = user").unwrap();
        assert_eq!(
            routes.table_for("streaming-12471ce1b695-pin"),
            Some(Table::Pin)
        );
        assert_eq!(routes.table_for("streaming-a-b-user"), Some(Table::User));
        assert_eq!(routes.table_for("clicks"), Some(Table::Geo));
        assert_eq!(routes.table_for("people"), Some(Table::User));
        assert_eq!(routes.table_for("streaming-x-pins"), None);
        assert_eq!(routes.table_for("other-x-pin"), None);
        assert!(StreamRoutes::parse("clicks").is_err());
        assert!(StreamRoutes::parse("clicks=posts").is_err());
        assert_eq!(StreamRoutes::parse("").unwrap(), StreamRoutes::default());
    }

    #[test]
    fn a_public_stream_name_is_put_into_its_stages_stream_and_any_other_name_as_it_is() {
        let names = StreamNames::parse(
            "streaming-a-pin=streaming-a-prod-pin, streaming-a-geo = streaming-a-prod-geo",
        )
        .unwrap();
        assert_eq!(names.physical("streaming-a-pin"), "streaming-a-prod-pin");
        assert_eq!(names.physical("streaming-a-geo"), "streaming-a-prod-geo");
        assert_eq!(names.physical("streaming-b-pin"), "streaming-b-pin");
        // the stage's stream still routes to its table by the original naming
        assert_eq!(
            StreamRoutes::default().table_for("streaming-a-prod-pin"),
            Some(Table::Pin)
        );
        assert!(StreamNames::parse("streaming-a-pin").is_err());
        assert!(StreamNames::parse("streaming-a-pin=").is_err());
        assert_eq!(StreamNames::parse("").unwrap(), StreamNames::default());
    }

    #[test]
    fn topics_route_by_the_original_naming_or_by_configuration() {
        let routes = TopicRoutes::parse("orders=geo").unwrap();
        assert_eq!(routes.table_for("12471ce1b695.pin"), Some(Table::Pin));
        assert_eq!(routes.table_for("a.b.user"), Some(Table::User));
        assert_eq!(routes.table_for("orders"), Some(Table::Geo));
        assert_eq!(routes.table_for("12471ce1b695.pins"), None);
        assert_eq!(routes.table_for("pin"), None);
    }

    #[test]
    fn every_name_made_for_a_table_is_routed_back_to_it() {
        for table in Table::ALL {
            for prefix in ["12471ce1b695", "a-b", "x.y"] {
                let topic = topic_name(prefix, table);
                assert_eq!(
                    TopicRoutes::default().table_for(&topic),
                    Some(table),
                    "{topic}"
                );
                let stream = stream_name(prefix, table);
                assert_eq!(
                    StreamRoutes::default().table_for(&stream),
                    Some(table),
                    "{stream}"
                );
            }
        }
        // the stack's streams carry the stage and still route by their last part
        assert_eq!(
            StreamRoutes::default().table_for("streaming-12471ce1b695-prod-geo"),
            Some(Table::Geo)
        );
        let configured = TopicRoutes::parse("clicks=pin").unwrap();
        assert_eq!(configured.table_for("clicks"), Some(Table::Pin));
        assert_eq!(TopicRoutes::default().table_for("clicks"), None);
    }
}
