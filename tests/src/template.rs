//! `template.yaml` as CloudFormation sees it: parsed, and through the SAM translator, offline.

use std::path::PathBuf;
use std::process::Command;
use std::sync::{Mutex, OnceLock};

/// `template.yaml` as JSON, parsed by cfn-lint's decoder (CloudFormation's short tags included).
pub fn template_json() -> serde_json::Value {
    static TEMPLATE: OnceLock<serde_json::Value> = OnceLock::new();
    TEMPLATE
        .get_or_init(|| {
            let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../template.yaml");
            let output = Command::new("python3")
                .args([
                    "-c",
                    "import json, sys; from cfnlint.decode import decode; t, m = decode(sys.argv[1]); \
                     assert not m, m; print(json.dumps(t, default=str))",
                ])
                .arg(&path)
                .output()
                .expect("python3 with cfn-lint (installed by .ci/run)");
            assert!(
                output.status.success(),
                "{}",
                String::from_utf8_lossy(&output.stderr)
            );
            serde_json::from_slice(&output.stdout).unwrap()
        })
        .clone()
}

/// The CloudFormation `sam deploy` would create from `template.yaml` with these parameter values:
/// the SAM translator, offline (`sam_transform.py`); each set of values is translated once per
/// test process.
pub fn sam_transform(parameters: &serde_json::Value) -> serde_json::Value {
    static DONE: OnceLock<Mutex<std::collections::HashMap<String, serde_json::Value>>> =
        OnceLock::new();
    let key = parameters.to_string();
    let done = DONE.get_or_init(Default::default);
    if let Some(t) = done.lock().unwrap_or_else(|e| e.into_inner()).get(&key) {
        return t.clone();
    }
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let output = Command::new("python3")
        .arg(root.join("sam_transform.py"))
        .arg(root.join("../template.yaml"))
        .arg(&key)
        .env("AWS_DEFAULT_REGION", "eu-west-1")
        .output()
        .expect("python3 with aws-sam-translator (cfn-lint's dependency, installed by .ci/run)");
    assert!(
        output.status.success(),
        "the SAM translator refused the template: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let template: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    done.lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(key, template.clone());
    template
}
