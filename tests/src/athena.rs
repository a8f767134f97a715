//! The Athena API stub (`tests/athena_stub.py`) as a test server, and what it was asked.

use std::path::Path;

use pinpipe::config::{AthenaConfig, AwsConfig, DEFAULT_ATHENA_CATALOG};
use serde_json::{Value, json};

use crate::{PythonProxy, TempDir};

/// The workgroup and database the stub expects (a request naming others is refused).
pub const WORKGROUP: &str = "pinpipe-test";
pub const DATABASE: &str = "pinpipe_test";

/// A running stub over a local warehouse; stopped when dropped.
pub struct AthenaStub {
    proxy: PythonProxy,
    dir: TempDir,
}

/// One call the stub answered.
#[derive(Clone, Debug)]
pub struct Call {
    pub op: String,
    pub request: Value,
    pub status: u16,
    pub response: Value,
}

impl AthenaStub {
    /// A stub computing over `warehouse_dir`, with `faults` merged into its settings
    /// (`throttle_first_start`, `fail_once`, `hang`, `page_rows`: see the script).
    pub fn start(warehouse_dir: &Path, faults: Value) -> AthenaStub {
        let dir = TempDir::new("athena-stub");
        let mut settings = json!({
            "workgroup": WORKGROUP,
            "database": DATABASE,
            "catalog": DEFAULT_ATHENA_CATALOG,
        });
        for (k, v) in faults.as_object().cloned().unwrap_or_default() {
            settings[k] = v;
        }
        let log = dir.path().join("calls.jsonl");
        let proxy = PythonProxy::start(
            "athena_stub.py",
            &[
                warehouse_dir.to_str().unwrap(),
                log.to_str().unwrap(),
                &settings.to_string(),
            ],
        );
        AthenaStub { proxy, dir }
    }

    /// The AWS settings that send Athena's calls here.
    pub fn aws(&self) -> AwsConfig {
        AwsConfig {
            region: Some("us-east-1".into()),
            athena_endpoint_url: Some(self.proxy.endpoint().to_owned()),
            access_key_id: Some("test".into()),
            secret_access_key: Some("test".into()),
            ..AwsConfig::default()
        }
    }

    /// The function's Athena settings for this stub, every size past the threshold.
    pub fn config(timeout_seconds: u64) -> AthenaConfig {
        AthenaConfig {
            workgroup: WORKGROUP.into(),
            database: DATABASE.into(),
            catalog: DEFAULT_ATHENA_CATALOG.into(),
            above_mb: 0,
            timeout_seconds,
            attempts: 3,
        }
    }

    /// Every call so far, in the order answered.
    pub fn calls(&self) -> Vec<Call> {
        let text = std::fs::read_to_string(self.dir.path().join("calls.jsonl")).unwrap_or_default();
        text.lines()
            .map(|l| {
                let v: Value = serde_json::from_str(l).unwrap();
                Call {
                    op: v["op"].as_str().unwrap().to_owned(),
                    request: v["request"].clone(),
                    status: v["status"].as_u64().unwrap() as u16,
                    response: v["response"].clone(),
                }
            })
            .collect()
    }
}

impl Call {
    /// The `ClientRequestToken` of a `StartQueryExecution`.
    pub fn token(&self) -> &str {
        self.request["ClientRequestToken"]
            .as_str()
            .unwrap_or_default()
    }

    /// Whether this `StartQueryExecution` started (or found) a query for `insight`.
    pub fn started(&self, insight: &str) -> bool {
        self.op == "StartQueryExecution"
            && self.status == 200
            && self.token().starts_with(&format!("pinpipe-{insight}-"))
    }
}
