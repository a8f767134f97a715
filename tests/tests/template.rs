//! `template.yaml` against the code: every Glue table's columns equal the Delta schema the library
//! writes, no function's policy grants a `*` action or a data action on `*`, every event source
//! mapping's settings are explicit, every function builds one of the workspace's binaries.
//! (cfn-lint and `sam validate --lint` run in `.ci/run`.)

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use pinpipe::config::AwsConfig;
use pinpipe::kafka::KafkaRunnerOptions;
use pinpipe::lake::{Warehouse, sql};
use pinpipe_tests::TempDir;
use serde_json::Value;

/// The template as JSON, parsed by cfn-lint's decoder (CloudFormation's short tags included).
fn template() -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../template.yaml");
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
}

fn resources<'a>(template: &'a Value, kind: &str) -> Vec<(&'a str, &'a Value)> {
    template["Resources"]
        .as_object()
        .unwrap()
        .iter()
        .filter(|(_, r)| r["Type"] == kind)
        .map(|(name, r)| (name.as_str(), r))
        .collect()
}

/// Athena's name for an Arrow type as DataFusion describes it.
fn athena_type(arrow: &str) -> String {
    let t = arrow.trim();
    let simple = [
        ("Int64", "bigint"),
        ("Int32", "int"),
        ("Utf8View", "string"),
        ("Utf8", "string"),
        ("LargeUtf8", "string"),
        ("Boolean", "boolean"),
        ("Float64", "double"),
        ("Date32", "date"),
    ];
    if let Some((_, athena)) = simple.iter().find(|(a, _)| *a == t) {
        return (*athena).to_owned();
    }
    if t.starts_with("Timestamp(") {
        return "timestamp".into();
    }
    if let Some(inner) = t.strip_prefix("List(") {
        let item = inner.split(',').next().unwrap_or_default();
        return format!("array<{}>", athena_type(item));
    }
    panic!("no Athena type for {t}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_glue_table_has_the_columns_of_the_delta_table_the_library_writes() {
    // a lake with every table in it: the demo on the real rows
    let dir = TempDir::new("template-lake");
    let uri = dir.path().join("lake").display().to_string();
    let rows = pinpipe_tests::data_file("source-rows/pin.jsonl");
    let output = Command::new(env!("CARGO_BIN_EXE_pinpipe"))
        .args(["demo", "--warehouse", &uri, "--source"])
        .arg(rows.parent().unwrap())
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let warehouse = Warehouse::open(&uri, &AwsConfig::default()).unwrap();
    let (ctx, registered) = sql::session(&warehouse).await.unwrap();

    let template = template();
    let tables = resources(&template, "AWS::Glue::Table");
    let mut seen = Vec::new();
    for (name, table) in &tables {
        let input = &table["Properties"]["TableInput"];
        let table_name = input["Name"].as_str().unwrap();
        assert_eq!(input["Parameters"]["table_type"], "DELTA", "{name}");
        let location = input["StorageDescriptor"]["Location"]["Fn::Sub"]
            .as_str()
            .unwrap();
        let path = location
            .strip_prefix("s3://${LakeBucket}/warehouse/")
            .unwrap_or_else(|| panic!("{name}: {location} is not under the warehouse"));
        let ours: Vec<(String, String)> = if table_name == "quarantine"
            && !registered.iter().any(|r| r == "quarantine")
        {
            // the real rows quarantine nothing: the library's schema directly
            pinpipe::lake::TableId::Quarantine
                .schema()
                .fields()
                .iter()
                .map(|f| (f.name().clone(), athena_type(&f.data_type().to_string())))
                .collect()
        } else {
            let described = sql::query(&ctx, &format!("DESCRIBE {table_name}"))
                .await
                .unwrap_or_else(|e| panic!("{name}: {table_name} is not a table of the lake: {e}"));
            sql::json_rows(&described)
                .1
                .iter()
                .map(|r| {
                    (
                        r[0].as_str().unwrap().to_owned(),
                        athena_type(r[1].as_str().unwrap()),
                    )
                })
                .collect()
        };
        let declared: Vec<(String, String)> = input["StorageDescriptor"]["Columns"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| {
                (
                    c["Name"].as_str().unwrap().into(),
                    c["Type"].as_str().unwrap().into(),
                )
            })
            .collect();
        assert_eq!(declared, ours, "{name}: columns, in order");
        // and the location is the table's
        let expected_path = match table_name.split_once('_') {
            Some((kind @ ("batch" | "stream"), t)) => format!("tables/{kind}/{t}/"),
            _ if sql::INSIGHTS.contains(&table_name) => format!("tables/analytics/{table_name}/"),
            _ => format!("tables/{table_name}/"),
        };
        assert_eq!(path, expected_path, "{name}");
        seen.push(table_name.to_owned());
    }
    seen.sort();
    let mut expected: Vec<String> = ["batch", "stream"]
        .iter()
        .flat_map(|k| ["pin", "geo", "user"].map(|t| format!("{k}_{t}")))
        .chain(sql::INSIGHTS.iter().map(|s| (*s).to_owned()))
        .chain(["quarantine".to_owned()])
        .collect();
    expected.sort();
    assert_eq!(seen, expected, "one Glue table per table of the lake");
    let queries = resources(&template, "AWS::Athena::NamedQuery");
    for insight in sql::INSIGHTS {
        assert!(
            queries.iter().any(|(_, q)| q["Properties"]["QueryString"]
                .as_str()
                .is_some_and(|s| s.contains(&format!("FROM {insight} "))
                    || s.ends_with(&format!("FROM {insight})")))),
            "a named query for {insight}"
        );
    }
}

/// Every IAM statement of every function's inline policies.
fn statements(function: &Value) -> Vec<Value> {
    let mut out = Vec::new();
    fn walk(v: &Value, out: &mut Vec<Value>) {
        match v {
            Value::Object(map) => {
                if let Some(Value::Array(statements)) = map.get("Statement") {
                    out.extend(statements.iter().cloned());
                }
                for (k, inner) in map {
                    if k != "Statement" {
                        walk(inner, out);
                    }
                }
            }
            Value::Array(items) => items.iter().for_each(|i| walk(i, out)),
            _ => {}
        }
    }
    walk(&function["Properties"]["Policies"], &mut out);
    out
}

fn strings(v: &Value) -> Vec<String> {
    match v {
        Value::String(s) => vec![s.clone()],
        Value::Array(items) => items.iter().flat_map(strings).collect(),
        other => vec![other.to_string()],
    }
}

#[test]
fn no_function_policy_grants_a_wildcard_action_or_a_data_action_on_every_resource() {
    let template = template();
    let functions = resources(&template, "AWS::Serverless::Function");
    assert_eq!(functions.len(), 5);
    for (name, function) in functions {
        let statements = statements(function);
        assert!(!statements.is_empty(), "{name} has its own policy");
        for statement in statements {
            let actions = strings(&statement["Action"]);
            for action in &actions {
                assert!(!action.contains('*'), "{name}: action {action}");
            }
            let data = actions.iter().any(|a| {
                [
                    "s3:",
                    "kinesis:",
                    "kafka-cluster:",
                    "secretsmanager:",
                    "kafka:",
                ]
                .iter()
                .any(|p| a.starts_with(p))
            });
            if data {
                for resource in strings(&statement["Resource"]) {
                    assert_ne!(resource, "*", "{name}: {actions:?} on every resource");
                }
            }
        }
    }
}

/// The local Kafka runner stands in for these mappings, so it must read a handler's answer exactly
/// as Lambda does under their settings: a partial batch response only where the mapping enables
/// `ReportBatchItemFailures` (which Lambda honours for Kafka only in provisioned mode). The
/// msk-consumer therefore fails the invocation to have a batch delivered again.
#[test]
fn every_msk_mapping_is_read_by_lambda_as_the_local_kafka_runner_reads_it() {
    let template = template();
    let runner = KafkaRunnerOptions::default();
    let mut msk = 0;
    for (name, mapping) in resources(&template, "AWS::Lambda::EventSourceMapping") {
        let p = &mapping["Properties"];
        if p["Topics"].is_null() {
            continue;
        }
        msk += 1;
        assert_eq!(
            p["FunctionName"]["Ref"], "MskConsumerFunction",
            "{name}: the msk-consumer"
        );
        let reports_failures = p["FunctionResponseTypes"]
            .as_array()
            .is_some_and(|t| t.iter().any(|t| t == "ReportBatchItemFailures"));
        let provisioned = !p["ProvisionedPollerConfig"].is_null();
        assert!(
            !reports_failures || provisioned,
            "{name}: Lambda ignores ReportBatchItemFailures on a Kafka mapping outside provisioned mode"
        );
        assert_eq!(
            reports_failures, runner.report_batch_item_failures,
            "{name}: the runner must read the answer as this mapping does"
        );
        assert_eq!(
            p["StartingPosition"] == "TRIM_HORIZON",
            runner.from_earliest,
            "{name}: the runner starts where this mapping starts"
        );
        assert_eq!(
            p["Topics"].as_array().map(Vec::len),
            Some(1),
            "{name}: one topic (one consumer group) per mapping"
        );
    }
    assert_eq!(msk, 3, "one mapping per topic");
}

#[test]
fn every_event_source_mapping_states_its_settings_and_every_function_builds_a_workspace_binary() {
    let template = template();
    let mut kinesis = 0;
    for (name, mapping) in resources(&template, "AWS::Lambda::EventSourceMapping") {
        let p = &mapping["Properties"];
        for setting in [
            "BatchSize",
            "MaximumBatchingWindowInSeconds",
            "StartingPosition",
        ] {
            assert!(!p[setting].is_null(), "{name}: {setting}");
        }
        assert!(
            !p["DestinationConfig"]["OnFailure"]["Destination"].is_null(),
            "{name}"
        );
        if p["Topics"].is_null() {
            kinesis += 1;
            for setting in [
                "BisectBatchOnFunctionError",
                "MaximumRetryAttempts",
                "MaximumRecordAgeInSeconds",
                "ParallelizationFactor",
            ] {
                assert!(!p[setting].is_null(), "{name}: {setting}");
            }
            assert_eq!(
                p["FunctionResponseTypes"][0], "ReportBatchItemFailures",
                "{name}"
            );
            assert_eq!(
                p["ParallelizationFactor"], 1,
                "{name}: one batch per shard at a time"
            );
        }
    }
    assert_eq!(kinesis, 3, "one mapping per stream");
    let globals = &template["Globals"]["Function"];
    assert_eq!(globals["Runtime"], "provided.al2023");
    assert_eq!(globals["Architectures"][0], "arm64");
    let binaries: BTreeMap<&str, &str> = [
        ("ingest-api", "functions/ingest-api"),
        ("msk-consumer", "functions/msk-consumer"),
        ("kinesis-consumer", "functions/kinesis-consumer"),
        ("daily-analytics", "functions/daily-analytics"),
        ("emulate-posting", "functions/emulate-posting"),
    ]
    .into();
    let mut built = Vec::new();
    for (name, function) in resources(&template, "AWS::Serverless::Function") {
        assert_eq!(
            function["Metadata"]["BuildMethod"], "rust-cargolambda",
            "{name}"
        );
        let binary = function["Metadata"]["BuildProperties"]["Binary"]
            .as_str()
            .unwrap();
        let dir = binaries
            .get(binary)
            .unwrap_or_else(|| panic!("{name}: {binary} is not a function crate"));
        let main = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("..")
            .join(dir)
            .join("src/main.rs");
        assert!(main.is_file(), "{name}: {}", main.display());
        built.push(binary);
    }
    built.sort();
    assert_eq!(built, binaries.keys().copied().collect::<Vec<_>>());
    let schedule =
        &template["Resources"]["DailyAnalyticsFunction"]["Properties"]["Events"]["Daily"];
    assert_eq!(
        schedule["Properties"]["ScheduleExpression"],
        "cron(0 12 * * ? *)"
    );
}
