//! `template.yaml` against the code: every Glue table's columns equal the Delta schema the library
//! writes, no function's policy grants a `*` action or a data action on `*`, every event source
//! mapping's settings are explicit and the local runners read them as Lambda does, the on-failure
//! destination is where the roles and the lifecycle say, every alarm notifies the alarm topic and
//! watches a metric that is emitted, every function builds one of the workspace's binaries, the
//! daily function may make exactly the Athena calls its code makes, in the stack's workgroup.
//! (cfn-lint and `sam validate --lint` run in `.ci/run`.)

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use pinpipe::config::{AwsConfig, DailyConfig};
use pinpipe::insight::{INSIGHTS, athena_sql};
use pinpipe::lake::{Warehouse, sql};
use pinpipe::{daily, failed_batch};
use pinpipe_local::kafka::KafkaRunnerOptions;
use pinpipe_local::kinesis::RunnerOptions;
use pinpipe_tests::TempDir;
use serde_json::Value;

fn template() -> Value {
    pinpipe_tests::template_json()
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
    let output = Command::new(env!("CARGO_BIN_EXE_pinpipe-test-cli"))
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
                .unwrap()
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
            _ if pinpipe::insight::by_name(table_name).is_some() => {
                format!("tables/analytics/{table_name}/")
            }
            _ => format!("tables/{table_name}/"),
        };
        assert_eq!(path, expected_path, "{name}");
        seen.push(table_name.to_owned());
    }
    seen.sort();
    let mut expected: Vec<String> = ["batch", "stream"]
        .iter()
        .flat_map(|k| ["pin", "geo", "user"].map(|t| format!("{k}_{t}")))
        .chain(pinpipe::insight::INSIGHTS.iter().map(|i| i.name.to_owned()))
        .chain(["quarantine".to_owned()])
        .collect();
    expected.sort();
    assert_eq!(seen, expected, "one Glue table per table of the lake");
    let queries = resources(&template, "AWS::Athena::NamedQuery");
    for insight in pinpipe::insight::INSIGHTS.map(|i| i.name) {
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
                    "athena:",
                    "glue:",
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

/// The local Kinesis runner stands in for these mappings: it must retry, bisect and discard as they
/// do. And a discarded batch must still be in the stream for a day after it was discarded.
#[test]
fn every_kinesis_mapping_retries_and_discards_as_the_local_runner_does() {
    let template = template();
    let runner = RunnerOptions::default();
    let mut kinesis = 0;
    for (name, mapping) in resources(&template, "AWS::Lambda::EventSourceMapping") {
        let p = &mapping["Properties"];
        if !p["Topics"].is_null() {
            continue;
        }
        kinesis += 1;
        let retries = p["MaximumRetryAttempts"].as_i64().unwrap();
        assert_eq!(
            u32::try_from(retries).ok(),
            runner.max_retries,
            "{name}: MaximumRetryAttempts (-1 = until the record is too old)"
        );
        let age = p["MaximumRecordAgeInSeconds"].as_i64().unwrap();
        assert_eq!(
            u64::try_from(age).ok(),
            runner.max_record_age.map(|d| d.as_secs()),
            "{name}: MaximumRecordAgeInSeconds"
        );
        assert_eq!(
            p["BisectBatchOnFunctionError"].as_bool(),
            Some(runner.bisect_on_function_error),
            "{name}"
        );
        let stream = p["EventSourceArn"]["Fn::GetAtt"][0].as_str().unwrap();
        let hours = template["Resources"][stream]["Properties"]["RetentionPeriodHours"]
            .as_i64()
            .unwrap_or(24);
        assert!(
            age > 0 && age + 86_400 <= hours * 3600,
            "{name}: a record discarded at {age} s must stay in {stream} ({hours} h) for a day more"
        );
    }
    assert_eq!(kinesis, 3);
}

/// Lambda writes a mapping's discarded batches to `aws/lambda/<ESM-UUID>/…` of the destination
/// bucket with the function's role (s3:PutObject there, s3:ListBucket on the bucket); the bucket
/// expires them, and counts the writes for the FailedBatchObjects alarm, under the same prefix.
#[test]
fn the_on_failure_destination_is_where_the_roles_the_lifecycle_and_the_request_metrics_say() {
    let template = template();
    let bucket = &template["Resources"]["LakeBucket"]["Properties"];
    let prefix = failed_batch::PREFIX;
    let rules = bucket["LifecycleConfiguration"]["Rules"]
        .as_array()
        .unwrap();
    assert!(
        rules
            .iter()
            .any(|r| r["Prefix"] == prefix && r["ExpirationInDays"].as_i64() >= Some(7)),
        "a lifecycle rule expires {prefix}"
    );
    let filters = bucket["MetricsConfigurations"].as_array().unwrap();
    assert!(filters.iter().any(|f| f["Prefix"] == prefix));
    let mut mappings = 0;
    for (name, mapping) in resources(&template, "AWS::Lambda::EventSourceMapping") {
        let p = &mapping["Properties"];
        let destination = strings(&p["DestinationConfig"]["OnFailure"]["Destination"]).concat();
        assert!(destination.contains("LakeBucket"), "{name}: {destination}");
        mappings += 1;
        let function = p["FunctionName"]["Ref"].as_str().unwrap();
        let statements = statements(&template["Resources"][function]);
        let grants = |action: &str, resource: &dyn Fn(&str) -> bool| {
            statements.iter().any(|s| {
                strings(&s["Action"]).iter().any(|a| a == action)
                    && strings(&s["Resource"]).iter().any(|r| resource(r))
            })
        };
        assert!(
            grants("s3:PutObject", &|r| r
                .contains(&format!("${{LakeBucket.Arn}}/{prefix}*"))),
            "{name}: {function} may write {prefix}*"
        );
        assert!(
            grants("s3:ListBucket", &|r| r.contains("LakeBucket")),
            "{name}: {function} may list the bucket"
        );
    }
    assert!(mappings >= 6);
    let text =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../template.yaml"))
            .unwrap();
    assert!(
        !text.contains("failed-batches/"),
        "no policy or rule names another prefix"
    );
}

/// Every (metric name, dimensions) the code emits as EMF, from the emitters themselves.
async fn emitted_metrics() -> Vec<(String, BTreeMap<String, String>)> {
    use pinpipe::Table;
    use pinpipe::stream::{ShardBatch, ShardReport};
    let now = chrono::Utc::now();
    let mut lines = Vec::new();
    for table in Table::ALL {
        let batch = ShardBatch {
            stream: format!("streaming-x-{table}"),
            shard: "shardId-000000000000".into(),
            records: Vec::new(),
        };
        lines.extend(kinesis_consumer::metric_lines(
            "ns",
            &[ShardReport::new(&batch, Some(table))],
            now,
        ));
        let landing = pinpipe::landing::LandingReport {
            topic: format!("x.{table}"),
            partition: 0,
            table: Some(table),
            first_offset: None,
            last_offset: None,
            records: 0,
            landed: 0,
            found: 0,
            quarantined: 0,
            objects: Vec::new(),
        };
        lines.extend(msk_consumer::metric_lines("ns", &[landing], true, now));
    }
    lines.push(kinesis_consumer::invocation_metric_line("ns", true, 1, now));
    let dir = TempDir::new("template-metrics");
    let warehouse = Warehouse::open(dir.path().to_str().unwrap(), &AwsConfig::default()).unwrap();
    let report = pinpipe::daily::run(
        &warehouse,
        &pinpipe::daily::DailyOptions {
            run_date: now.date_naive(),
            now,
            routes: pinpipe::routes::TopicRoutes::default(),
            budget: std::time::Duration::from_secs(600),
            chunk_bytes: 1 << 20,
            stages: pinpipe::daily::Stages::parse(&["clean"]).unwrap(),
        },
    )
    .await
    .unwrap();
    lines.extend(report.metric_lines("ns", now));
    let mut metrics = Vec::new();
    for line in lines {
        let doc: Value = serde_json::from_str(&line).unwrap();
        let directive = &doc["_aws"]["CloudWatchMetrics"][0];
        for set in directive["Dimensions"].as_array().unwrap() {
            let dims: BTreeMap<String, String> = set
                .as_array()
                .unwrap()
                .iter()
                .map(|d| {
                    let d = d.as_str().unwrap();
                    (d.to_owned(), doc[d].as_str().unwrap().to_owned())
                })
                .collect();
            for metric in directive["Metrics"].as_array().unwrap() {
                metrics.push((metric["Name"].as_str().unwrap().to_owned(), dims.clone()));
            }
        }
    }
    metrics
}

/// One metric an alarm watches: its namespace, name and dimensions, as the template gives them.
type AlarmMetric = (Value, String, Vec<(String, Value)>);

/// An alarm's metrics, with a metric-math alarm's every stat.
fn alarm_metrics(alarm: &Value) -> Vec<AlarmMetric> {
    let one = |m: &Value| {
        let dims = m["Dimensions"]
            .as_array()
            .map(|ds| {
                ds.iter()
                    .map(|d| (d["Name"].as_str().unwrap().to_owned(), d["Value"].clone()))
                    .collect()
            })
            .unwrap_or_default();
        (
            m["Namespace"].clone(),
            m["MetricName"].as_str().unwrap().to_owned(),
            dims,
        )
    };
    match alarm["Metrics"].as_array() {
        Some(metrics) => metrics
            .iter()
            .filter(|m| !m["MetricStat"].is_null())
            .map(|m| one(&m["MetricStat"]["Metric"]))
            .collect(),
        None => vec![one(alarm)],
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_alarm_notifies_the_alarm_topic_and_watches_a_metric_that_is_emitted() {
    let template = template();
    let emitted = emitted_metrics().await;
    let functions: Vec<&str> = resources(&template, "AWS::Serverless::Function")
        .into_iter()
        .map(|(name, _)| name)
        .collect();
    let api_name = &template["Resources"]["IngestApi"]["Properties"]["Name"];
    let topic = serde_json::json!([{"Fn::If": ["HasAlarmTopic", {"Ref": "AlarmTopicArn"}, {"Ref": "AlarmTopic"}]}]);
    let mut watched = Vec::new();
    for (name, alarm) in resources(&template, "AWS::CloudWatch::Alarm") {
        let p = &alarm["Properties"];
        assert_eq!(p["AlarmActions"], topic, "{name} notifies the alarm topic");
        assert_eq!(p["OKActions"], topic, "{name} says when it clears");
        for (namespace, metric, dims) in alarm_metrics(p) {
            let dim = |n: &str| {
                dims.iter()
                    .find(|(k, _)| k == n)
                    .map(|(_, v)| v.clone())
                    .unwrap_or(Value::Null)
            };
            match namespace.as_str() {
                Some("AWS/Lambda") => {
                    assert!(
                        ["Errors", "IteratorAge", "OffsetLag"].contains(&metric.as_str()),
                        "{name}: {metric}"
                    );
                    assert_eq!(dims.len(), 1, "{name}");
                    let function = dim("FunctionName")["Ref"].as_str().unwrap_or("").to_owned();
                    assert!(functions.contains(&function.as_str()), "{name}: {function}");
                    if metric == "IteratorAge" {
                        assert_eq!(function, "KinesisConsumerFunction", "{name}");
                    }
                    if metric == "OffsetLag" {
                        assert_eq!(function, "MskConsumerFunction", "{name}");
                    }
                }
                Some("AWS/S3") => {
                    assert_eq!(metric, "PutRequests", "{name}");
                    assert_eq!(dim("BucketName")["Ref"], "LakeBucket", "{name}");
                    let filters =
                        template["Resources"]["LakeBucket"]["Properties"]["MetricsConfigurations"]
                            .as_array()
                            .unwrap();
                    let filter = filters
                        .iter()
                        .find(|f| f["Id"] == dim("FilterId"))
                        .unwrap_or_else(|| {
                            panic!("{name}: no request-metrics filter {:?}", dim("FilterId"))
                        });
                    assert_eq!(filter["Prefix"], failed_batch::PREFIX, "{name}");
                }
                Some("AWS/ApiGateway") => {
                    assert_eq!(metric, "5XXError", "{name}");
                    assert_eq!(&dim("ApiName"), api_name, "{name}");
                    assert_eq!(dim("Stage")["Ref"], "Stage", "{name}");
                }
                _ => {
                    assert_eq!(
                        namespace["Fn::Sub"], "pinpipe/${Stage}",
                        "{name}: the functions' PINPIPE_METRICS_NAMESPACE"
                    );
                    let dims: BTreeMap<String, String> = dims
                        .iter()
                        .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned()))
                        .collect();
                    assert!(
                        emitted.contains(&(metric.clone(), dims.clone())),
                        "{name}: no code emits {metric} {dims:?}"
                    );
                }
            }
            watched.push(metric);
        }
    }
    for needed in [
        "IteratorAge",
        "OffsetLag",
        "PutRequests",
        "RecordsFailed",
        "RunsSucceeded",
        "RawObjectsLeft",
        "RecordsRejected",
        "5XXError",
    ] {
        assert!(
            watched.iter().any(|m| m == needed),
            "an alarm watches {needed}"
        );
    }
    let dead_man = &template["Resources"]["DailyRunMissing"]["Properties"];
    assert_eq!(dead_man["TreatMissingData"], "breaching");
    assert_eq!(
        dead_man["Period"].as_i64().unwrap() * dead_man["EvaluationPeriods"].as_i64().unwrap(),
        26 * 3600
    );
}

/// The ingest API's cost is bounded by parameters (rate, burst, a daily quota per key, reserved
/// concurrency), and its Kafka sink answers before API Gateway gives up (29 s): a 504 from the
/// gateway would leave the client not knowing whether its records were sent.
#[test]
fn the_ingest_api_is_bounded_in_rate_quota_concurrency_and_time() {
    let template = template();
    let resources = &template["Resources"];
    let stage = &resources["ApiStage"]["Properties"]["MethodSettings"][0];
    assert_eq!(stage["ThrottlingRateLimit"]["Ref"], "ApiRateLimit");
    assert_eq!(stage["ThrottlingBurstLimit"]["Ref"], "ApiBurstLimit");
    let plan = &resources["UsagePlan"]["Properties"];
    assert_eq!(plan["Throttle"]["RateLimit"]["Ref"], "ApiRateLimit");
    assert_eq!(plan["Throttle"]["BurstLimit"]["Ref"], "ApiBurstLimit");
    assert_eq!(plan["Quota"]["Limit"]["Ref"], "ApiQuotaPerDay");
    assert_eq!(plan["Quota"]["Period"], "DAY");
    for name in ["ApiRateLimit", "ApiBurstLimit", "ApiQuotaPerDay"] {
        assert!(
            template["Parameters"][name]["Default"].as_i64() > Some(0),
            "{name} has a default"
        );
    }
    let function = &resources["IngestApiFunction"]["Properties"];
    assert_eq!(
        function["ReservedConcurrentExecutions"]["Fn::If"][1]["Ref"],
        "IngestReservedConcurrency"
    );
    let timeout = function["Timeout"].as_u64().unwrap();
    assert!(timeout <= 29, "API Gateway's integration timeout is 29 s");
    let kafka = pinpipe::sink::KAFKA_METADATA_TIMEOUT + pinpipe::sink::KAFKA_DELIVERY_TIMEOUT;
    assert!(
        kafka < std::time::Duration::from_secs(timeout),
        "the topic lookup and the delivery ({kafka:?}) end before the function's {timeout} s"
    );
    let kinesis = pinpipe::sink::KINESIS_PUT_TIMEOUT;
    assert!(
        kinesis < std::time::Duration::from_secs(timeout),
        "a request's puts ({kinesis:?}) end before the function's {timeout} s"
    );
}

#[test]
fn every_body_the_api_accepts_reaches_the_function_as_base64_within_lambdas_event_limit() {
    use pinpipe::limits::EVENT_ENVELOPE_RESERVE;
    let template = template();
    let api = &template["Resources"]["IngestApi"]["Properties"];
    // every media type binary: API Gateway hands every body over base64-encoded, 4 bytes for 3,
    // whatever its content (as text, JSON escaping could double a body full of quotes)
    assert_eq!(api["BinaryMediaTypes"], serde_json::json!(["*/*"]));
    // (that a 4 MiB body's base64 and the envelope fit the event is checked when the library builds)
    // the envelope is the event without the body: the sample events' largest, with room to spare
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../events/ingest-api");
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "json") {
            continue;
        }
        let mut event: Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        event["body"] = Value::Null;
        let envelope = event.to_string().len();
        assert!(envelope * 10 < EVENT_ENVELOPE_RESERVE, "{envelope} bytes");
    }
}

#[test]
fn the_daily_schedule_sends_its_scheduled_time_in_the_shape_of_the_sample_event() {
    let template = template();
    let events = &template["Resources"]["DailyAnalyticsFunction"]["Properties"]["Events"];
    let schedule = &events["Daily"];
    assert_eq!(schedule["Type"], "ScheduleV2");
    let input: Value =
        serde_json::from_str(schedule["Properties"]["Input"].as_str().expect("an Input")).unwrap();
    assert_eq!(
        input,
        serde_json::json!({"time": "<aws.scheduler.scheduled-time>"}),
        "Scheduler's context attribute for the scheduled time"
    );
    let sample: Value = serde_json::from_str(
        &std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../events/daily-analytics/scheduled.json"),
        )
        .unwrap(),
    )
    .unwrap();
    let keys = |v: &Value| v.as_object().unwrap().keys().cloned().collect::<Vec<_>>();
    assert_eq!(
        keys(&sample),
        keys(&input),
        "the sample is the Input filled in"
    );
    chrono::DateTime::parse_from_rfc3339(sample["time"].as_str().unwrap()).unwrap();
}

#[test]
fn every_stream_name_carries_the_stage_and_the_api_maps_the_original_names_onto_them() {
    let template = template();
    let mapping = template["Resources"]["IngestApiFunction"]["Properties"]["Environment"]
        ["Variables"]["PINPIPE_KINESIS_STREAMS"]["Fn::Sub"]
        .as_str()
        .expect("the ingest function maps public stream names")
        .to_owned();
    let streams = resources(&template, "AWS::Kinesis::Stream");
    assert_eq!(streams.len(), 3);
    for (logical, stream) in streams {
        let name = stream["Properties"]["Name"]["Fn::Sub"].as_str().unwrap();
        assert!(
            name.contains("${Stage}") && name.contains("${Prefix}"),
            "{logical}: {name} (two stages in one account and region would share it)"
        );
        // the stack's stream still routes to its table by the original naming
        let table = pinpipe::routes::StreamRoutes::default()
            .table_for(&name.replace("${Prefix}", "p").replace("${Stage}", "dev"))
            .unwrap_or_else(|| panic!("{name} routes to no table"));
        assert!(
            mapping
                .split(',')
                .any(|pair| pair == format!("streaming-${{Prefix}}-{table}=${{{logical}}}")),
            "{mapping} maps streaming-<prefix>-{table} onto {logical}"
        );
    }
}

/// The SQL with its quoted identifiers and string literals blanked out.
fn unquoted(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut quote: Option<char> = None;
    for c in sql.chars() {
        match quote {
            Some(q) if c == q => {
                quote = None;
                out.push(' ');
            }
            Some(_) => out.push(' '),
            None if c == '"' || c == '\'' => {
                quote = Some(c);
                out.push(' ');
            }
            None => out.push(c),
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_quarantine_queries_quote_its_reserved_column_and_count_what_was_quarantined() {
    use pinpipe::Table;
    use pinpipe::lake::{LakeTable, TableId};
    use pinpipe::quarantine::{QuarantineRecord, SourceRef};
    let template = template();
    let queries: Vec<(String, String)> = resources(&template, "AWS::Athena::NamedQuery")
        .into_iter()
        .map(|(name, q)| {
            (
                name.to_owned(),
                q["Properties"]["QueryString"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    // `table` is reserved in Athena's engine (Trino): every use of the column is quoted
    for (name, sql) in &queries {
        let bare = unquoted(sql).to_ascii_lowercase();
        assert!(
            !bare
                .split(|c: char| !c.is_ascii_alphanumeric() && c != '_')
                .any(|word| word == "table"),
            "{name}: the column `table` unquoted in {sql}"
        );
    }
    // a quarantine of records the cleaning rejected, and the queries over it
    let rejected: [(Table, &[u8]); 4] = [
        (Table::Geo, br#"{"ind": 1, "latitude": 99, "longitude": 0, "timestamp": "2020-01-01 00:00:00", "country": "Chad"}"#),
        (Table::Geo, br#"{"ind": 2, "latitude": -91, "longitude": 0, "timestamp": "2020-01-01 00:00:00", "country": "Chad"}"#),
        (Table::User, br#"{"first_name": "A", "date_joined": "2015-10-24 11:23:51"}"#),
        (Table::Pin, b"{not json"),
    ];
    let records: Vec<QuarantineRecord> = rejected
        .iter()
        .enumerate()
        .map(|(i, (table, raw))| {
            let rejection = pinpipe::record::clean(*table, raw).unwrap_err();
            let at = chrono::DateTime::from_timestamp(1_700_000_000 + i as i64, 0).unwrap();
            let source = SourceRef::Api {
                request_id: format!("req-{i}"),
            };
            QuarantineRecord::new(rejection, raw, source, at)
        })
        .collect();
    let mut expected: BTreeMap<(String, String), i64> = BTreeMap::new();
    for r in &records {
        *expected
            .entry((r.table.name().to_owned(), r.reason.to_owned()))
            .or_default() += 1;
    }
    let dir = TempDir::new("quarantine-queries");
    let uri = dir.path().join("lake").display().to_string();
    let warehouse = Warehouse::open(&uri, &AwsConfig::default()).unwrap();
    let mut table = LakeTable::open(&warehouse, TableId::Quarantine)
        .await
        .unwrap();
    table
        .append(
            vec![pinpipe::schema::quarantine_batch(&records).unwrap()],
            &[],
        )
        .await
        .unwrap();
    let (ctx, _) = sql::session(&warehouse).await.unwrap();
    let on_quarantine: Vec<&(String, String)> = queries
        .iter()
        .filter(|(_, sql)| sql.contains("FROM quarantine"))
        .collect();
    assert_eq!(on_quarantine.len(), 2, "{on_quarantine:?}");
    for (name, sql) in on_quarantine {
        let batches = sql::query(&ctx, sql)
            .await
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let (columns, rows) = sql::json_rows(&batches);
        assert!(columns.iter().any(|c| c == "table"), "{name}: {columns:?}");
        if name == "QueryQuarantineByReason" {
            let got: BTreeMap<(String, String), i64> = rows
                .iter()
                .map(|r| {
                    (
                        (
                            r[0].as_str().unwrap().to_owned(),
                            r[1].as_str().unwrap().to_owned(),
                        ),
                        r[2].as_i64().unwrap(),
                    )
                })
                .collect();
            assert_eq!(got, expected, "{name}");
            assert_eq!(rows[0][2], 2, "{name}: the largest count first");
        } else {
            assert_eq!(rows.len(), records.len(), "{name}");
            assert_eq!(rows[0][2], "not_json", "{name}: the latest first");
        }
    }
}

/// A function's environment as Lambda would see it, with each `Ref` to a parameter its default
/// and each other `Ref` or `Fn::Sub` the resource's logical id or the text (enough to parse).
fn environment(function: &Value, template: &Value) -> BTreeMap<String, String> {
    let vars = function["Properties"]["Environment"]["Variables"]
        .as_object()
        .unwrap();
    vars.iter()
        .map(|(k, v)| {
            let value = match v {
                Value::String(s) => s.clone(),
                other => match other["Ref"].as_str() {
                    Some(name) => match &template["Parameters"][name]["Default"] {
                        Value::Null => name.to_owned(),
                        Value::String(s) => s.clone(),
                        default => default.to_string(),
                    },
                    None => other.to_string(),
                },
            };
            (k.clone(), value)
        })
        .collect()
}

#[test]
fn the_daily_function_queries_athena_in_the_stacks_workgroup_with_only_the_calls_it_makes() {
    let template = template();
    let function = &template["Resources"]["DailyAnalyticsFunction"];
    let vars = &function["Properties"]["Environment"]["Variables"];
    assert_eq!(vars["PINPIPE_ATHENA_WORKGROUP"]["Ref"], "AthenaWorkGroup");
    assert_eq!(vars["PINPIPE_ATHENA_DATABASE"]["Ref"], "GlueDatabase");
    assert_eq!(vars["PINPIPE_ATHENA_ABOVE_MB"]["Ref"], "AthenaAboveMb");

    // the function reads them, and a run (cleaning's budget, then the queries' timeout) ends
    // before Lambda's timeout stops it with queries left running
    let env = environment(function, &template);
    let config = DailyConfig::from_lookup(|k| env.get(k).cloned()).unwrap();
    let athena = config.athena.expect("the insights can go to Athena");
    assert_eq!(athena.above_mb, 4096);
    let timeout = function["Properties"]["Timeout"].as_u64().unwrap();
    assert!(
        config.budget_seconds + athena.timeout_seconds + 30 <= timeout,
        "{} s of cleaning + {} s of queries in a {timeout} s function",
        config.budget_seconds,
        athena.timeout_seconds
    );

    let statements = statements(function);
    let granted = |prefix: &str| -> Vec<(Vec<String>, Vec<String>)> {
        statements
            .iter()
            .map(|s| (strings(&s["Action"]), strings(&s["Resource"])))
            .filter(|(actions, _)| actions.iter().any(|a| a.starts_with(prefix)))
            .collect()
    };
    // exactly the calls the code makes, on this workgroup only
    let athena_grants = granted("athena:");
    assert_eq!(athena_grants.len(), 1, "{athena_grants:?}");
    let (actions, on) = &athena_grants[0];
    let mut expected: Vec<String> = daily::athena::CALLS
        .iter()
        .map(|c| format!("athena:{c}"))
        .collect();
    expected.sort();
    let mut actions = actions.clone();
    actions.sort();
    assert_eq!(actions, expected);
    assert_eq!(on.len(), 1);
    assert!(
        on[0].ends_with(":workgroup/${AthenaWorkGroup}\"}"),
        "{on:?}"
    );

    // the Glue entries of every table the queries read, and nothing else of the catalog's
    let glue = granted("glue:");
    assert_eq!(glue.len(), 1, "{glue:?}");
    let glue_resources = glue[0].1.join(" ");
    assert!(
        glue_resources.contains("database/${GlueDatabase}"),
        "{glue_resources}"
    );
    let mut read = std::collections::BTreeSet::new();
    for insight in INSIGHTS {
        read.extend(sql::tables_read(&athena_sql(insight)).unwrap());
    }
    for name in &read {
        let table = resources(&template, "AWS::Glue::Table")
            .into_iter()
            .find(|(_, t)| t["Properties"]["TableInput"]["Name"] == name.as_str());
        assert!(table.is_some(), "{name} is read but is no Glue table");
        let prefix = name.split('_').next().unwrap();
        assert!(
            glue_resources.contains(&format!("table/${{GlueDatabase}}/{prefix}_*")),
            "{name} is read but its Glue entry is not granted: {glue_resources}"
        );
    }
    assert_eq!(
        read.into_iter().collect::<Vec<_>>(),
        ["batch_geo", "batch_pin", "batch_user"]
    );

    // the results go where the workgroup puts them, and the role may write them there
    let output = template["Resources"]["AthenaWorkGroup"]["Properties"]["WorkGroupConfiguration"]
        ["ResultConfiguration"]["OutputLocation"]["Fn::Sub"]
        .as_str()
        .unwrap()
        .to_owned();
    let prefix = output
        .strip_prefix("s3://${LakeBucket}/")
        .expect("the results are in the lake's bucket");
    assert!(
        granted("s3:").iter().any(|(actions, resources)| {
            actions.iter().any(|a| a == "s3:PutObject")
                && actions.iter().any(|a| a == "s3:GetObject")
                && resources
                    .iter()
                    .any(|r| r.contains(&format!("${{LakeBucket.Arn}}/{prefix}*")))
        }),
        "no grant to write the results under {output}"
    );
    for action in ["s3:GetBucketLocation", "s3:ListBucketMultipartUploads"] {
        assert!(
            granted("s3:").iter().any(|(actions, resources)| {
                actions.iter().any(|a| a == action)
                    && resources
                        .iter()
                        .any(|r| r.contains("LakeBucket") && !r.contains("/"))
            }),
            "Athena writes the results with {action} on the bucket"
        );
    }
}
