//! The original emulator's requests (spec §3.1, §1.1), pure: for each post (a pin, a geo and a user
//! row), batch mode posts each row to `/topics/<prefix>.<table>` as `{"records": [{"value": row}]}`
//! and stream mode puts it to `/streams/streaming-<prefix>-<table>/record` as
//! `{"StreamName", "Data": row, "PartitionKey": "partition-1"}` — with the emulator's `index` keys,
//! `isoformat()` datetimes and `json.dumps` separators. With feature `emulator`, [`PostSource`] reads
//! posts and [`emulate()`] sends them.

use crate::{Table, routes};

#[cfg(feature = "emulator")]
mod client;
#[cfg(feature = "emulator")]
mod posts;
#[cfg(feature = "emulator")]
pub use client::{ATTEMPTS, ApiSigning, EmulateOptions, EmulateSummary, emulate};
#[cfg(feature = "emulator")]
pub use posts::{DEFAULT_POSTS, Payloads, Pick, PostSource};

/// Which endpoints a post goes to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Batch,
    Stream,
    Both,
}

/// One HTTP request of the emulator.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EmulatedRequest {
    pub method: &'static str,
    pub path: String,
    pub content_type: &'static str,
    pub body: Vec<u8>,
}

/// The requests for one post whose rows, in the emulator's payload form, are `payloads` (pin, geo,
/// user), in the order the original sends them.
pub fn post_requests(payloads: &[Vec<u8>; 3], prefix: &str, mode: Mode) -> Vec<EmulatedRequest> {
    let mut requests = Vec::new();
    for (table, payload) in Table::ALL.into_iter().zip(payloads) {
        let payload = String::from_utf8_lossy(payload);
        if matches!(mode, Mode::Batch | Mode::Both) {
            requests.push(EmulatedRequest {
                method: "POST",
                path: format!("/topics/{}", routes::topic_name(prefix, table)),
                content_type: "application/vnd.kafka.json.v2+json",
                body: format!(r#"{{"records": [{{"value": {payload}}}]}}"#).into_bytes(),
            });
        }
        if matches!(mode, Mode::Stream | Mode::Both) {
            let stream = routes::stream_name(prefix, table);
            requests.push(EmulatedRequest {
                method: "PUT",
                path: format!("/streams/{stream}/record"),
                content_type: "application/json",
                body: format!(
                    r#"{{"StreamName": "{stream}", "Data": {payload}, "PartitionKey": "partition-1"}}"#
                )
                .into_bytes(),
            });
        }
    }
    requests
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_post_is_three_requests_per_mode_in_the_emulators_shapes() {
        let payloads = [
            br#"{"index": 1, "category": "art"}"#.to_vec(),
            br#"{"index": 1, "country": "Chad"}"#.to_vec(),
            br#"{"index": 1, "age": 30}"#.to_vec(),
        ];
        let both = post_requests(&payloads, "12471ce1b695", Mode::Both);
        assert_eq!(both.len(), 6);
        assert_eq!(both[0].path, "/topics/12471ce1b695.pin");
        assert_eq!(
            both[0].body,
            br#"{"records": [{"value": {"index": 1, "category": "art"}}]}"#
        );
        assert_eq!(both[3].path, "/streams/streaming-12471ce1b695-geo/record");
        assert_eq!(
            String::from_utf8_lossy(&both[3].body),
            r#"{"StreamName": "streaming-12471ce1b695-geo", "Data": {"index": 1, "country": "Chad"}, "PartitionKey": "partition-1"}"#
        );
        assert_eq!(post_requests(&payloads, "p", Mode::Batch).len(), 3);
        assert!(
            post_requests(&payloads, "p", Mode::Stream)
                .iter()
                .all(|r| r.method == "PUT")
        );
    }
}
