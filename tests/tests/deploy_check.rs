//! The deploy check: what `sam deploy` would create, offline. The template goes through the SAM
//! translator (`sam_transform.py`, the package CloudFormation's transform runs) and then through
//! [`pinpipe_tests::cfn`] (CloudFormation's parameter checks, rules, conditions and intrinsics) for
//! each kind of deployment a user chooses; the resolved stack is checked against the code: the
//! networking MSK needs, the triggers' authentication, every IAM grant against the ARN the code or
//! its trigger reaches — S3 through `strict_s3.py`, which refuses what the role does not allow while
//! each function runs its sample events — and each function's environment through its own config
//! parser.

use std::collections::{BTreeMap, BTreeSet};

use pinpipe::Table;
use pinpipe::config::{
    DailyConfig, EmulateConfig, IngestConfig, KafkaAuth, MskConsumerConfig, StreamConsumerConfig,
};
use pinpipe_tests::cfn::{self, Refused, Stack, arn_matches, strings};
use pinpipe_tests::{Moto, PythonProxy, TempDir};
use serde_json::{Value, json};

const CLUSTER: &str =
    "arn:aws:kafka:eu-west-1:123456789012:cluster/shop/5a6b7c8d-1111-2222-3333-444455556666-3";
const SCRAM_SECRET: &str =
    "arn:aws:secretsmanager:eu-west-1:123456789012:secret:AmazonMSK_pinpipe-AbCdEf";
const CERT_SECRET: &str =
    "arn:aws:secretsmanager:eu-west-1:123456789012:secret:pinpipe-client-cert-AbCdEf";
const SOURCE_SECRET: &str =
    "arn:aws:secretsmanager:eu-west-1:123456789012:secret:rds-pinterest-AbCdEf";

fn existing_iam() -> Value {
    json!({"MskClusterArn": CLUSTER, "SubnetIds": "subnet-0a1,subnet-0b2", "SecurityGroupIds": "sg-0c3"})
}

fn existing_scram() -> Value {
    let mut p = existing_iam();
    p["KafkaAuth"] = "sasl-scram".into();
    p["KafkaSecretArn"] = SCRAM_SECRET.into();
    p
}

fn existing_mtls() -> Value {
    let mut p = existing_iam();
    p["KafkaAuth"] = "tls".into();
    p["KafkaSecretArn"] = CERT_SECRET.into();
    p
}

/// One deploy, no existing network pieces but a VPC: the cluster, its topics, the endpoints.
fn created() -> Value {
    json!({
        "CreateMskCluster": "true",
        "SubnetIds": "subnet-0a1,subnet-0b2",
        "VpcId": "vpc-0123456789abcdef0",
        "CreateVpcEndpoints": "true",
        "RouteTableIds": "rtb-0a1,rtb-0b2",
        "SourceUrl": "mysql://pinterest.cluster-abc.eu-west-1.rds.amazonaws.com:3306/pinterest_data",
        "SourceSecretArn": SOURCE_SECRET,
    })
}

fn iam_api() -> Value {
    json!({"ApiAuth": "AWS_IAM", "DailyReservedConcurrency": "1", "IngestReservedConcurrency": "5",
           "AlarmTopicArn": "arn:aws:sns:eu-west-1:123456789012:ops", "Stage": "dev"})
}

fn every_choice() -> Vec<(&'static str, Value)> {
    vec![
        ("defaults", json!({})),
        ("existing cluster, IAM", existing_iam()),
        ("existing cluster, SCRAM", existing_scram()),
        ("existing cluster, mutual TLS", existing_mtls()),
        ("created cluster and endpoints", created()),
        ("IAM-signed API, reserved concurrency", iam_api()),
    ]
}

fn deploy(parameters: &Value) -> Stack {
    let template = pinpipe_tests::sam_transform(parameters);
    cfn::deploy(&template, parameters).unwrap_or_else(|e| panic!("{parameters}: refused: {e:?}"))
}

/// Every `Fn::`/`Ref` left in a value (none: CloudFormation resolves them all).
fn unresolved(v: &Value, at: &str, out: &mut Vec<String>) {
    match v {
        Value::Object(map) => {
            for (k, inner) in map {
                if k.starts_with("Fn::") || k == "Ref" {
                    out.push(format!("{at}/{k}"));
                }
                unresolved(inner, &format!("{at}/{k}"), out);
            }
        }
        Value::Array(items) => {
            for (i, inner) in items.iter().enumerate() {
                unresolved(inner, &format!("{at}/{i}"), out);
            }
        }
        _ => {}
    }
}

#[test]
fn every_deployment_a_user_would_choose_passes_the_rules_and_resolves_completely() {
    for (choice, parameters) in every_choice() {
        let stack = deploy(&parameters);
        let mut left = Vec::new();
        for (name, resource) in &stack.resources {
            unresolved(resource, name, &mut left);
        }
        assert!(left.is_empty(), "{choice}: unresolved {left:?}");
        for (name, role) in stack.of_type("AWS::IAM::Role") {
            let managed = strings(&role["Properties"]["ManagedPolicyArns"]);
            let unique: BTreeSet<&String> = managed.iter().collect();
            assert_eq!(
                unique.len(),
                managed.len(),
                "{choice}: {name} lists a policy twice"
            );
        }
        // only what must reach a VPC is in one, and then with subnets and groups
        for (name, function) in stack.of_type("AWS::Lambda::Function") {
            let vpc = &function["Properties"]["VpcConfig"];
            let expected = match name.as_str() {
                "IngestApiFunction" => stack.conditions["HasMsk"],
                "EmulatePostingFunction" => parameters.get("SourceUrl").is_some(),
                _ => false,
            };
            assert_eq!(
                !vpc.is_null(),
                expected,
                "{choice}: {name}'s VpcConfig {vpc}"
            );
            if expected {
                for list in ["SubnetIds", "SecurityGroupIds"] {
                    let items = strings(&vpc[list]);
                    assert!(
                        !items.is_empty() && items.iter().all(|i| !i.is_empty()),
                        "{choice}: {name}'s {list} {items:?}"
                    );
                }
            }
            let reserved = &function["Properties"]["ReservedConcurrentExecutions"];
            let asked = match name.as_str() {
                "DailyAnalyticsFunction" => parameters.get("DailyReservedConcurrency"),
                "IngestApiFunction" => parameters.get("IngestReservedConcurrency"),
                _ => None,
            };
            match asked {
                Some(n) => assert_eq!(reserved.as_str(), n.as_str(), "{choice}: {name}"),
                None => assert!(reserved.is_null(), "{choice}: {name} reserves {reserved}"),
            }
        }
        let workgroup = stack.of_type("AWS::Athena::WorkGroup").next().unwrap().1;
        assert_eq!(workgroup["Properties"]["RecursiveDeleteOption"], true);
        // the schedule sends its scheduled time, in the shape of the sample event
        let schedule = stack.of_type("AWS::Scheduler::Schedule").next().unwrap().1;
        let input: Value =
            serde_json::from_str(schedule["Properties"]["Target"]["Input"].as_str().unwrap())
                .unwrap();
        assert_eq!(
            input,
            json!({"time": "<aws.scheduler.scheduled-time>"}),
            "{choice}"
        );
        let sample = sample("daily-analytics", "scheduled.json");
        let keys = |v: &Value| v.as_object().unwrap().keys().cloned().collect::<Vec<_>>();
        assert_eq!(keys(&input), keys(&sample), "{choice}");
    }
}

#[test]
fn the_rules_refuse_before_anything_is_created_what_would_fail_or_deploy_broken() {
    let template = pinpipe_tests::sam_transform(&json!({}));
    let with = |base: Value, changes: Value| {
        let mut p = base;
        for (k, v) in changes.as_object().unwrap() {
            p[k] = v.clone();
        }
        p
    };
    let cases = [
        (json!({"MskClusterArn": CLUSTER}), "set SubnetIds"),
        (
            json!({"CreateMskCluster": "true", "VpcId": "vpc-0a"}),
            "set SubnetIds",
        ),
        (
            json!({"SubnetIds": "subnet-0a1"}),
            "set VpcId (the stack makes one) or SecurityGroupIds",
        ),
        (
            with(created(), json!({"MskClusterArn": CLUSTER})),
            "leave MskClusterArn empty",
        ),
        (
            with(
                created(),
                json!({"KafkaAuth": "sasl-scram", "KafkaSecretArn": SCRAM_SECRET}),
            ),
            "IAM only",
        ),
        (
            with(existing_iam(), json!({"KafkaAuth": "sasl-scram"})),
            "needs KafkaSecretArn",
        ),
        (
            with(existing_iam(), json!({"KafkaSecretArn": SCRAM_SECRET})),
            "leave KafkaSecretArn empty",
        ),
        (
            with(created(), json!({"VpcId": ""})),
            "CreateVpcEndpoints needs VpcId",
        ),
        (
            with(created(), json!({"RouteTableIds": ""})),
            "needs RouteTableIds",
        ),
    ];
    for (parameters, expected) in cases {
        match cfn::deploy(&template, &parameters) {
            Err(Refused::Rules(failed)) => assert!(
                failed.iter().any(|f| f.contains(expected)),
                "{parameters}: refused for {failed:?}, not {expected:?}"
            ),
            other => panic!("{parameters}: {other:?}, not refused for {expected:?}"),
        }
    }
    // and values CloudFormation itself refuses: MSK offers no plaintext over Lambda's network
    for (parameters, expected) in [
        (
            json!({"KafkaAuth": "plaintext"}),
            "KafkaAuth=\"plaintext\" is not one of",
        ),
        (json!({"Stage": "Prod"}), "does not match"),
        (json!({"KafkaPartitions": "0"}), "below 1"),
    ] {
        match cfn::deploy(&template, &parameters) {
            Err(Refused::Parameter(why)) => assert!(why.contains(expected), "{why}"),
            other => panic!("{parameters}: {other:?}"),
        }
    }
}

/// The topic and consumer-group ARNs of a cluster (`cluster/NAME/UUID` → `topic/NAME/UUID/TOPIC`).
fn kafka_arn(cluster: &str, kind: &str, name: &str) -> String {
    let (head, tail) = cluster.split_once(":cluster/").unwrap();
    format!("{head}:{kind}/{tail}/{name}")
}

fn mappings(stack: &Stack) -> Vec<&Value> {
    stack
        .of_type("AWS::Lambda::EventSourceMapping")
        .map(|(_, m)| &m["Properties"])
        .filter(|p| p["AmazonManagedKafkaEventSourceConfig"].is_object())
        .collect()
}

#[test]
fn every_msk_trigger_authenticates_as_the_cluster_does_and_its_role_reaches_what_it_reads() {
    for (choice, parameters, access) in [
        ("iam", existing_iam(), None),
        (
            "scram",
            existing_scram(),
            Some(("SASL_SCRAM_512_AUTH", SCRAM_SECRET)),
        ),
        (
            "mtls",
            existing_mtls(),
            Some(("CLIENT_CERTIFICATE_TLS_AUTH", CERT_SECRET)),
        ),
        ("created", created(), None),
    ] {
        let stack = deploy(&parameters);
        let cluster = stack.outputs["KafkaClusterArn"]
            .as_str()
            .unwrap()
            .to_owned();
        let prefix = stack.parameters["Prefix"].as_str().unwrap().to_owned();
        let triggers = mappings(&stack);
        assert_eq!(triggers.len(), 3, "{choice}");
        let mut topics = BTreeSet::new();
        for trigger in triggers {
            assert_eq!(trigger["EventSourceArn"], cluster.as_str(), "{choice}");
            let topic = strings(&trigger["Topics"]).remove(0);
            let group = trigger["AmazonManagedKafkaEventSourceConfig"]["ConsumerGroupId"]
                .as_str()
                .unwrap();
            let role = "MskConsumerFunctionRole";
            for (action, arn) in [
                ("kafka-cluster:Connect", cluster.clone()),
                ("kafka:DescribeClusterV2", cluster.clone()),
                (
                    "kafka-cluster:ReadData",
                    kafka_arn(&cluster, "topic", &topic),
                ),
                (
                    "kafka-cluster:DescribeTopic",
                    kafka_arn(&cluster, "topic", &topic),
                ),
                (
                    "kafka-cluster:AlterGroup",
                    kafka_arn(&cluster, "group", group),
                ),
                (
                    "kafka-cluster:DescribeGroup",
                    kafka_arn(&cluster, "group", group),
                ),
            ] {
                assert!(
                    stack.allows(role, action, &arn),
                    "{choice}: {role} {action} {arn}"
                );
            }
            let given = trigger["SourceAccessConfigurations"].as_array();
            match access {
                None => assert!(given.is_none(), "{choice}: {given:?}"),
                Some((kind, secret)) => {
                    assert_eq!(given.unwrap(), &vec![json!({"Type": kind, "URI": secret})]);
                    assert!(stack.allows(role, "secretsmanager:GetSecretValue", secret));
                }
            }
            topics.insert(topic);
        }
        let expected: BTreeSet<String> =
            Table::ALL.iter().map(|t| format!("{prefix}.{t}")).collect();
        assert_eq!(topics, expected, "{choice}");
        // ingest-api produces to the same cluster and topics, from the cluster's VPC
        let env = stack.environment("IngestApiFunction");
        assert_eq!(env["PINPIPE_MSK_CLUSTER_ARN"], cluster, "{choice}");
        let config = IngestConfig::from_lookup(|k| env.get(k).cloned()).unwrap();
        let auth = parameters["KafkaAuth"].as_str().unwrap_or("iam");
        assert_eq!(config.kafka.auth, KafkaAuth::parse(auth).unwrap());
        assert_eq!(
            config.kafka.secret_id.as_deref(),
            access.map(|(_, secret)| secret),
            "{choice}: the function reads the secret the trigger reads"
        );
        for topic in &topics {
            let arn = kafka_arn(&cluster, "topic", topic);
            assert!(stack.allows("IngestApiFunctionRole", "kafka-cluster:WriteData", &arn));
        }
        if let Some((_, secret)) = access {
            assert!(stack.allows(
                "IngestApiFunctionRole",
                "secretsmanager:GetSecretValue",
                secret
            ));
        }
    }
}

#[test]
fn a_created_cluster_is_iam_only_in_the_vpc_and_gets_its_topics_before_the_triggers_read_them() {
    let stack = deploy(&created());
    let (_, cluster) = stack.of_type("AWS::MSK::ServerlessCluster").next().unwrap();
    let properties = &cluster["Properties"];
    assert_eq!(
        properties["ClientAuthentication"],
        json!({"Sasl": {"Iam": {"Enabled": true}}})
    );
    assert!(properties["ClusterName"].as_str().unwrap().len() <= 64);
    let group = stack.resource("PipelineSecurityGroup");
    let group_id = stack.conditions["HasVpcId"]
        .then(|| cfn_group_id(&stack))
        .unwrap();
    assert_eq!(group["Properties"]["VpcId"], "vpc-0123456789abcdef0");
    assert_eq!(
        properties["VpcConfigs"],
        json!([{"SubnetIds": ["subnet-0a1", "subnet-0b2"], "SecurityGroups": [group_id]}])
    );
    // the group admits itself on the brokers' ports and HTTPS, nothing else
    let mut ports = BTreeSet::new();
    for (_, ingress) in stack.of_type("AWS::EC2::SecurityGroupIngress") {
        let p = &ingress["Properties"];
        assert_eq!(p["GroupId"], group_id.as_str());
        assert_eq!(p["SourceSecurityGroupId"], group_id.as_str());
        ports.insert((
            p["FromPort"].as_i64().unwrap(),
            p["ToPort"].as_i64().unwrap(),
        ));
    }
    assert_eq!(ports, BTreeSet::from([(443, 443), (9092, 9098)]));
    // KafkaTopics: served by ingest-api, which may create exactly those topics
    let topics = stack.resource("KafkaTopics");
    let ingest_arn = format!(
        "arn:aws:lambda:{}:{}:function:{}",
        cfn::REGION,
        cfn::ACCOUNT,
        "pinpipe-IngestApiFunction-AbC123"
    );
    assert_eq!(topics["Properties"]["ServiceToken"], ingest_arn.as_str());
    assert_eq!(topics["Properties"]["Partitions"], "3");
    // created after (and deleted before) what the function needs to reach the brokers, the MSK
    // API and S3 (its answer to CloudFormation): no request it cannot answer
    let network = strings(&topics["Properties"]["Network"]);
    for needed in [
        "PipelineSecurityGroupBrokers",
        "PipelineSecurityGroupEndpoints",
        "KafkaApiEndpoint",
        "S3Endpoint",
    ] {
        assert!(
            network.iter().any(|n| n == needed),
            "{needed} in {network:?}"
        );
    }
    let cluster_arn = stack.outputs["KafkaClusterArn"].as_str().unwrap();
    for topic in strings(&topics["Properties"]["Topics"]) {
        let arn = kafka_arn(cluster_arn, "topic", &topic);
        assert!(
            stack.allows("IngestApiFunctionRole", "kafka-cluster:CreateTopic", &arn),
            "{arn}"
        );
    }
    // with an existing cluster the function may create no topic
    let existing = deploy(&existing_iam());
    let statements = existing.statements("IngestApiFunctionRole");
    assert!(
        !statements.iter().any(|s| strings(&s["Action"])
            .iter()
            .any(|a| a == "kafka-cluster:CreateTopic")),
        "{statements:?}"
    );
    // the endpoints the function, the trigger and CloudFormation's answer need, in the VPC
    let mut services = BTreeMap::new();
    for (_, endpoint) in stack.of_type("AWS::EC2::VPCEndpoint") {
        let p = &endpoint["Properties"];
        assert_eq!(p["VpcId"], "vpc-0123456789abcdef0");
        let service = p["ServiceName"]
            .as_str()
            .unwrap()
            .rsplit('.')
            .next()
            .unwrap()
            .to_owned();
        services.insert(service, p["VpcEndpointType"].as_str().unwrap().to_owned());
        if p["VpcEndpointType"] == "Interface" {
            assert_eq!(p["SubnetIds"], json!(["subnet-0a1", "subnet-0b2"]));
            assert_eq!(p["SecurityGroupIds"], json!([group_id]));
            assert_eq!(p["PrivateDnsEnabled"], true);
        } else {
            assert_eq!(p["RouteTableIds"], json!(["rtb-0a1", "rtb-0b2"]));
        }
    }
    let expected: BTreeMap<String, String> = [
        ("sts", "Interface"),
        ("lambda", "Interface"),
        ("kinesis-streams", "Interface"),
        ("kafka", "Interface"),
        ("secretsmanager", "Interface"),
        ("s3", "Gateway"),
    ]
    .iter()
    .map(|(s, t)| ((*s).to_owned(), (*t).to_owned()))
    .collect();
    assert_eq!(services, expected);
}

fn cfn_group_id(stack: &Stack) -> String {
    strings(&stack.resource("IngestApiFunction")["Properties"]["VpcConfig"]["SecurityGroupIds"])
        .remove(0)
}

#[test]
fn two_stages_in_one_account_and_region_share_no_name() {
    let names = |stage: &str| -> BTreeSet<String> {
        let stack = deploy(&json!({"Stage": stage}));
        let mut names = BTreeSet::new();
        for (_, r) in &stack.resources {
            let p = &r["Properties"];
            // the names the template gives (CloudFormation makes the others unique per stack)
            for v in [
                &p["Name"],
                &p["DatabaseInput"]["Name"],
                &p["ClusterName"],
                &p["GroupName"],
            ] {
                if let Some(n) = v.as_str() {
                    names.insert(n.to_owned());
                }
            }
            if let Some(group) =
                p["AmazonManagedKafkaEventSourceConfig"]["ConsumerGroupId"].as_str()
            {
                names.insert(group.to_owned());
            }
        }
        names
    };
    let (prod, dev) = (names("prod"), names("dev"));
    assert!(prod.len() >= 5, "{prod:?}");
    let shared: Vec<&String> = prod.intersection(&dev).collect();
    assert!(shared.is_empty(), "both stages would create {shared:?}");
}

/// Every key a config parser reads, with the value it got.
fn reads(
    env: &BTreeMap<String, String>,
    parse: impl Fn(&dyn Fn(&str) -> Option<String>),
) -> BTreeSet<String> {
    let read = std::cell::RefCell::new(BTreeSet::new());
    let lookup = |k: &str| {
        read.borrow_mut().insert(k.to_owned());
        env.get(k).cloned().filter(|v| !v.is_empty())
    };
    parse(&lookup);
    read.into_inner()
}

#[test]
fn each_functions_environment_in_the_template_is_what_its_config_parser_reads() {
    for (choice, parameters) in every_choice() {
        let stack = deploy(&parameters);
        for (name, _) in stack.of_type("AWS::Lambda::Function") {
            let env = stack.environment(name);
            let read = match name.as_str() {
                "IngestApiFunction" => reads(&env, |get| {
                    IngestConfig::from_lookup(get)
                        .unwrap_or_else(|e| panic!("{choice}: {name}: {e}"));
                }),
                "MskConsumerFunction" => reads(&env, |get| {
                    MskConsumerConfig::from_lookup(get)
                        .unwrap_or_else(|e| panic!("{choice}: {name}: {e}"));
                }),
                "KinesisConsumerFunction" => reads(&env, |get| {
                    StreamConsumerConfig::from_lookup(get)
                        .unwrap_or_else(|e| panic!("{choice}: {name}: {e}"));
                }),
                "DailyAnalyticsFunction" => reads(&env, |get| {
                    DailyConfig::from_lookup(get)
                        .unwrap_or_else(|e| panic!("{choice}: {name}: {e}"));
                }),
                "EmulatePostingFunction" => reads(&env, |get| {
                    EmulateConfig::from_lookup(get)
                        .unwrap_or_else(|e| panic!("{choice}: {name}: {e}"));
                }),
                other => panic!("{choice}: a function the check does not know: {other}"),
            };
            let ignored: Vec<&String> = env.keys().filter(|k| !read.contains(*k)).collect();
            assert!(
                ignored.is_empty(),
                "{choice}: {name}'s template sets {ignored:?}, which its code never reads"
            );
        }
    }
}

/// One function's S3 calls through `strict_s3.py` holding it to its role's resolved statements (the
/// stack's bucket name replaced by `bucket`'s): the endpoint, and the log of every call.
struct RoleS3 {
    proxy: PythonProxy,
    log: std::path::PathBuf,
    function: String,
    role: String,
    bucket: String,
}

impl RoleS3 {
    fn start(stack: &Stack, function: &str, bucket: &str, dir: &TempDir) -> RoleS3 {
        let role = &format!("{function}Role");
        let ours = format!("arn:aws:s3:::{}", lake_bucket(stack));
        let statements: Vec<Value> = stack
            .statements(role)
            .iter()
            .map(|s| {
                json!({
                    "actions": strings(&s["Action"]),
                    "resources": strings(&s["Resource"])
                        .iter()
                        .map(|r| r.replace(&ours, &format!("arn:aws:s3:::{bucket}")))
                        .collect::<Vec<_>>(),
                })
            })
            .collect();
        let policy = dir.path().join(format!("{role}.json"));
        std::fs::write(&policy, serde_json::to_vec(&statements).unwrap()).unwrap();
        let log = dir.path().join(format!("{role}.log"));
        let proxy = PythonProxy::start(
            "strict_s3.py",
            &[
                Moto::get().endpoint(),
                policy.to_str().unwrap(),
                log.to_str().unwrap(),
            ],
        );
        RoleS3 {
            proxy,
            log,
            function: function.to_owned(),
            role: role.clone(),
            bucket: bucket.to_owned(),
        }
    }

    /// The function's environment from the template, pointed at this proxy and `bucket`.
    fn env(&self, stack: &Stack) -> BTreeMap<String, String> {
        let bucket = self.bucket.as_str();
        let mut env: BTreeMap<String, String> = stack
            .environment(&self.function)
            .into_iter()
            .map(|(k, v)| (k, v.replace(&lake_bucket(stack), bucket)))
            .collect();
        for (k, v) in Moto::get().env() {
            env.insert(k.to_owned(), v);
        }
        env.insert(
            "AWS_ENDPOINT_URL_S3".into(),
            self.proxy.endpoint().to_owned(),
        );
        env
    }

    /// Every call: (allowed, action, ARN).
    fn calls(&self) -> Vec<(bool, String, String)> {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .map(|l| {
                let v: Value = serde_json::from_str(l).unwrap();
                (
                    v["allowed"].as_bool().unwrap(),
                    v["action"].as_str().unwrap().to_owned(),
                    v["arn"].as_str().unwrap().to_owned(),
                )
            })
            .collect()
    }
}

fn lake_bucket(stack: &Stack) -> String {
    stack.outputs["LakeBucket"].as_str().unwrap().to_owned()
}

fn sample(function: &str, name: &str) -> Value {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../events")
        .join(function)
        .join(name);
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

/// No call refused, and every S3 grant of the role used by some call (a grant the code never needs
/// is a grant too many) but the `later` actions, which only time brings, each with why.
fn assert_exactly_enough(s3: &RoleS3, stack: &Stack, later: &[(&str, &str)]) {
    let (function, role, bucket) = (&s3.function, &s3.role, &s3.bucket);
    let calls = s3.calls();
    assert!(!calls.is_empty(), "{function} made no S3 call");
    let refused: Vec<_> = calls.iter().filter(|c| !c.0).collect();
    assert!(
        refused.is_empty(),
        "{function}'s role refuses what its code does: {refused:?}"
    );
    let ours = format!("arn:aws:s3:::{}", lake_bucket(stack));
    for statement in stack.statements(role) {
        for action in strings(&statement["Action"])
            .iter()
            .filter(|a| a.starts_with("s3:"))
        {
            for resource in strings(&statement["Resource"]) {
                let resource = resource.replace(&ours, &format!("arn:aws:s3:::{bucket}"));
                // Lambda's own writes (the trigger's failure destination) and Athena's (its query
                // results, written and read as the role) are checked apart (template.rs)
                if resource.contains("/aws/lambda/")
                    || resource.contains("/athena-results/")
                    || later.iter().any(|(a, _)| a == action)
                {
                    continue;
                }
                assert!(
                    calls
                        .iter()
                        .any(|(_, a, arn)| a == action && arn_matches(&resource, arn)),
                    "{function}: {action} on {resource} is granted but never used by the code"
                );
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_function_runs_its_sample_events_on_s3_as_its_role_allows_and_needs_every_s3_grant() {
    let stack = deploy(&existing_iam());
    let moto = Moto::get();
    let bucket = moto.bucket("deploy-check");
    let dir = TempDir::new("deploy-check");

    // msk-consumer: the raw zone and the quarantine
    let s3 = RoleS3::start(&stack, "MskConsumerFunction", &bucket, &dir);
    let env = s3.env(&stack);
    let config = MskConsumerConfig::from_lookup(|k| env.get(k).cloned()).unwrap();
    // twice, the second time from a cold start: a redelivered batch reads what the first landed
    for _ in 0..2 {
        let state = msk_consumer::State::new(&config).unwrap();
        for name in ["pin.json", "geo.json", "user.json", "poison.json"] {
            let event = sample("msk-consumer", name);
            pinpipe_local::invoke::call_json(|e| msk_consumer::handle(&state, e), event)
                .await
                .unwrap();
        }
    }
    assert_exactly_enough(&s3, &stack, &[]);

    // kinesis-consumer: the stream tables and the quarantine
    let s3 = RoleS3::start(&stack, "KinesisConsumerFunction", &bucket, &dir);
    let env = s3.env(&stack);
    let config = StreamConsumerConfig::from_lookup(|k| env.get(k).cloned()).unwrap();
    let state = kinesis_consumer::State::new(&config).unwrap();
    let samples = ["pin", "geo", "user", "poison", "emulator-format"];
    for name in samples {
        let event = sample("kinesis-consumer", &format!("{name}.json"));
        pinpipe_local::invoke::call_json(|e| kinesis_consumer::handle(&state, e), event)
            .await
            .unwrap();
    }
    assert_exactly_enough(&s3, &stack, &[]);

    // daily-analytics: the raw zone read, the batch tables, the insights, maintenance
    let s3 = RoleS3::start(&stack, "DailyAnalyticsFunction", &bucket, &dir);
    let env = s3.env(&stack);
    let config = DailyConfig::from_lookup(|k| env.get(k).cloned()).unwrap();
    let state = daily_analytics::State::new(&config).unwrap();
    let event = sample("daily-analytics", "scheduled.json");
    let summary = pinpipe_local::invoke::call(|e| daily_analytics::handle(&state, e), event, None)
        .await
        .unwrap();
    assert!(summary.rows_written > 0, "{summary:?}");
    let later = [
        (
            "s3:DeleteObject",
            "vacuum removes files 7 days after they leave a table, and superseded progress \
             documents are pruned once old: a first run has neither (lake.rs runs vacuum)",
        ),
        (
            "s3:GetBucketLocation",
            "Athena's, as the role, before it writes a query's results (template.rs)",
        ),
        (
            "s3:ListBucketMultipartUploads",
            "Athena's, as the role, for a query's results written in parts (template.rs)",
        ),
    ];
    assert_exactly_enough(&s3, &stack, &later);
}

#[test]
fn every_trigger_can_write_its_failure_destination_where_the_redrive_reads() {
    let stack = deploy(&existing_iam());
    let bucket_arn = format!("arn:aws:s3:::{}", lake_bucket(&stack));
    let mut seen = 0;
    for (name, mapping) in stack.of_type("AWS::Lambda::EventSourceMapping") {
        let p = &mapping["Properties"];
        let destination = p["DestinationConfig"]["OnFailure"]["Destination"]
            .as_str()
            .unwrap();
        assert_eq!(destination, bucket_arn, "{name}");
        let function = p["FunctionName"].as_str().unwrap();
        let role = stack
            .of_type("AWS::Lambda::Function")
            .find(|(n, _)| function.contains(n.as_str()))
            .map(|(n, _)| format!("{n}Role"))
            .unwrap_or_else(|| panic!("{name}: no function {function}"));
        // Lambda writes aws/lambda/<mapping UUID>/<partition or shard>/YYYY/MM/DD/HH/<file>
        let key = pinpipe::failed_batch::object_key(
            "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0",
            "shardId-000000000000",
            chrono::Utc::now(),
            "a1b2c3",
        );
        assert!(key.starts_with(pinpipe::failed_batch::PREFIX), "{key}");
        let arn = format!("{bucket_arn}/{key}");
        assert!(
            stack.allows(&role, "s3:PutObject", &arn),
            "{name}: {role} cannot write {arn}"
        );
        seen += 1;
    }
    assert_eq!(seen, 6, "three Kafka and three Kinesis triggers");
}

#[test]
fn the_api_puts_into_and_the_stream_triggers_read_exactly_the_stacks_streams() {
    for (choice, parameters) in every_choice() {
        let stack = deploy(&parameters);
        let streams: BTreeSet<String> = stack
            .of_type("AWS::Kinesis::Stream")
            .map(|(_, s)| {
                let name = s["Properties"]["Name"].as_str().unwrap();
                format!(
                    "arn:aws:kinesis:{}:{}:stream/{name}",
                    cfn::REGION,
                    cfn::ACCOUNT
                )
            })
            .collect();
        assert_eq!(streams.len(), 3, "{choice}");
        let triggers: BTreeSet<String> = stack
            .of_type("AWS::Lambda::EventSourceMapping")
            .filter_map(|(_, m)| m["Properties"]["EventSourceArn"].as_str())
            .filter(|arn| arn.contains(":kinesis:"))
            .map(str::to_owned)
            .collect();
        assert_eq!(triggers, streams, "{choice}: a trigger per stream");
        // the API maps the public names onto exactly these streams (what the strict double checks
        // at run time, ingest_api.rs)
        let env = stack.environment("IngestApiFunction");
        let names = IngestConfig::from_lookup(|k| env.get(k).cloned())
            .unwrap()
            .stream_names;
        for stream in &streams {
            assert!(stack.allows("IngestApiFunctionRole", "kinesis:PutRecords", stream));
            assert!(stack.allows("IngestApiFunctionRole", "kinesis:PutRecord", stream));
            let name = stream.rsplit('/').next().unwrap();
            let table = name.rsplit('-').next().unwrap();
            let public = format!(
                "streaming-{}-{table}",
                stack.parameters["Prefix"].as_str().unwrap()
            );
            assert_eq!(names.physical(&public), name, "{choice}");
            // what Lambda's Kinesis poller calls, as the consumer's role
            for action in [
                "kinesis:DescribeStream",
                "kinesis:DescribeStreamSummary",
                "kinesis:GetRecords",
                "kinesis:GetShardIterator",
                "kinesis:ListShards",
            ] {
                assert!(
                    stack.allows("KinesisConsumerFunctionRole", action, stream),
                    "{choice}: {action} on {stream}"
                );
            }
        }
        // the emulator reaches the API as the API authenticates, and the secrets it reads
        let env = stack.environment("EmulatePostingFunction");
        let emulator = EmulateConfig::from_lookup(|k| env.get(k).cloned()).unwrap();
        let api_id = stack.outputs["ApiUrl"].as_str().unwrap();
        assert_eq!(emulator.api_url, api_id, "{choice}");
        if stack.conditions["IamApi"] {
            let rest_api = api_id
                .strip_prefix("https://")
                .and_then(|u| u.split('.').next())
                .unwrap();
            let stage = stack.parameters["Stage"].as_str().unwrap();
            let arn = format!(
                "arn:aws:execute-api:{}:{}:{rest_api}/{stage}/POST/topics/x.pin",
                cfn::REGION,
                cfn::ACCOUNT
            );
            assert!(
                stack.allows("EmulatePostingFunctionRole", "execute-api:Invoke", &arn),
                "{arn}"
            );
        } else {
            let secret = &env["PINPIPE_API_KEY_SECRET_ID"];
            assert!(stack.allows(
                "EmulatePostingFunctionRole",
                "secretsmanager:GetSecretValue",
                secret
            ));
        }
        if let Some(secret) = env.get("PINPIPE_SOURCE_SECRET_ID") {
            assert!(stack.allows(
                "EmulatePostingFunctionRole",
                "secretsmanager:GetSecretValue",
                secret
            ));
        }
    }
}
