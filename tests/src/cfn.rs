//! CloudFormation, offline, for the deploy check: the template `sam deploy` submits (the SAM
//! translator's output, [`crate::sam_transform`]) taken with parameter values as CloudFormation
//! takes them — each value checked against its parameter's `AllowedValues`/`AllowedPattern`/
//! `MinValue`, the `Rules` asserted, the `Conditions` evaluated, resources whose condition is false
//! dropped, and `Ref`, `Fn::If`, `Fn::Sub`, `Fn::Join`, `Fn::Select`, `Fn::Split` and
//! `Fn::GetAtt` resolved, a resource's `Ref` and attributes to the names and ARNs AWS would give it
//! in one account and region. What is left is what each resource would be created with.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

pub const REGION: &str = "eu-west-1";
pub const ACCOUNT: &str = "123456789012";
pub const STACK_NAME: &str = "pinpipe";
pub const STACK_ID: &str = "arn:aws:cloudformation:eu-west-1:123456789012:stack/pinpipe/6f1e2d3c-aaaa-bbbb-cccc-0123456789ab";

/// The stack as CloudFormation would create it.
#[derive(Debug)]
pub struct Stack {
    pub parameters: BTreeMap<String, Value>,
    pub conditions: BTreeMap<String, bool>,
    /// Every resource created, its properties resolved.
    pub resources: Map<String, Value>,
    pub outputs: Map<String, Value>,
}

/// Why CloudFormation would refuse the parameters before creating anything.
#[derive(Debug, PartialEq)]
pub enum Refused {
    /// A value outside its parameter's allowed values, pattern or minimum.
    Parameter(String),
    /// The `AssertDescription`s of the rules' assertions that fail.
    Rules(Vec<String>),
}

struct Resolver<'a> {
    template: &'a Value,
    parameters: BTreeMap<String, Value>,
    conditions: std::cell::RefCell<BTreeMap<String, bool>>,
}

/// `template` (CloudFormation, transformed) created with `given` parameter values (strings, a
/// CommaDelimitedList as one string, as `sam deploy --parameter-overrides` gives them).
pub fn deploy(template: &Value, given: &Value) -> Result<Stack, Refused> {
    let mut parameters = BTreeMap::new();
    for (name, spec) in template["Parameters"].as_object().into_iter().flatten() {
        let text = match given.get(name) {
            Some(v) => v.as_str().map_or_else(|| v.to_string(), str::to_owned),
            None => match &spec["Default"] {
                Value::String(s) => s.clone(),
                Value::Null => return Err(Refused::Parameter(format!("{name} has no value"))),
                other => other.to_string(),
            },
        };
        check_parameter(name, spec, &text).map_err(Refused::Parameter)?;
        let value = if spec["Type"] == "CommaDelimitedList" {
            Value::Array(text.split(',').map(|s| json!(s.trim())).collect())
        } else {
            json!(text)
        };
        parameters.insert(name.clone(), value);
    }
    if let Some(unknown) = given
        .as_object()
        .into_iter()
        .flatten()
        .map(|(k, _)| k)
        .find(|k| !parameters.contains_key(*k))
    {
        return Err(Refused::Parameter(format!("no parameter {unknown}")));
    }
    let resolver = Resolver {
        template,
        parameters,
        conditions: Default::default(),
    };
    let mut failed = Vec::new();
    for (_, rule) in template["Rules"].as_object().into_iter().flatten() {
        let applies = rule.get("RuleCondition").is_none_or(|c| {
            resolver
                .eval(c)
                .as_bool()
                .expect("a rule condition is true or false")
        });
        if !applies {
            continue;
        }
        for assertion in rule["Assertions"].as_array().into_iter().flatten() {
            if resolver.eval(&assertion["Assert"]) != json!(true) {
                failed.push(
                    assertion["AssertDescription"]
                        .as_str()
                        .unwrap_or("(an assertion)")
                        .to_owned(),
                );
            }
        }
    }
    if !failed.is_empty() {
        return Err(Refused::Rules(failed));
    }
    let mut resources = Map::new();
    for (name, resource) in template["Resources"].as_object().unwrap() {
        if resolver.created(name) {
            let mut resolved = resolver.eval(resource);
            resolved.as_object_mut().unwrap().remove("Condition");
            resources.insert(name.clone(), resolved);
        }
    }
    let mut outputs = Map::new();
    for (name, output) in template["Outputs"].as_object().into_iter().flatten() {
        let shown = output
            .get("Condition")
            .and_then(Value::as_str)
            .is_none_or(|c| resolver.condition(c));
        if shown {
            outputs.insert(name.clone(), resolver.eval(&output["Value"]));
        }
    }
    let names: Vec<String> = template["Conditions"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(k, _)| k.clone())
        .collect();
    for name in names {
        resolver.condition(&name);
    }
    Ok(Stack {
        parameters: resolver.parameters.clone(),
        conditions: resolver.conditions.borrow().clone(),
        resources,
        outputs,
    })
}

fn check_parameter(name: &str, spec: &Value, text: &str) -> Result<(), String> {
    if let Some(allowed) = spec["AllowedValues"].as_array()
        && !allowed.iter().any(|a| a.as_str() == Some(text))
    {
        return Err(format!("{name}={text:?} is not one of {allowed:?}"));
    }
    if let Some(min) = spec["MinValue"].as_f64() {
        let n: f64 = text
            .parse()
            .map_err(|_| format!("{name}={text:?} is not a number"))?;
        if n < min {
            return Err(format!("{name}={text} is below {min}"));
        }
    }
    if let Some(pattern) = spec["AllowedPattern"].as_str() {
        // CloudFormation matches the whole value
        let re = regex_lite::Regex::new(&format!("^(?:{pattern})$")).unwrap();
        if !re.is_match(text) {
            return Err(format!("{name}={text:?} does not match {pattern}"));
        }
    }
    Ok(())
}

const NO_VALUE: &str = "\u{0}AWS::NoValue";

impl Resolver<'_> {
    fn condition(&self, name: &str) -> bool {
        if let Some(v) = self.conditions.borrow().get(name) {
            return *v;
        }
        let spec = &self.template["Conditions"][name];
        assert!(!spec.is_null(), "no condition {name}");
        let value = self
            .eval(spec)
            .as_bool()
            .expect("a condition is true or false");
        self.conditions.borrow_mut().insert(name.to_owned(), value);
        value
    }

    fn created(&self, resource: &str) -> bool {
        let spec = &self.template["Resources"][resource];
        assert!(!spec.is_null(), "no resource {resource}");
        spec["Condition"].as_str().is_none_or(|c| self.condition(c))
    }

    fn resource(&self, name: &str) -> &Value {
        let r = &self.template["Resources"][name];
        assert!(!r.is_null(), "no resource {name}");
        assert!(self.created(name), "{name} is referred to but not created");
        r
    }

    fn property(&self, name: &str, property: &str) -> Option<String> {
        let v = &self.resource(name)["Properties"][property];
        (!v.is_null()).then(|| text(&self.eval(v)))
    }

    /// What `Ref` gives for a resource.
    fn reference(&self, name: &str) -> String {
        let kind = self.resource(name)["Type"].as_str().unwrap().to_owned();
        match kind.as_str() {
            "AWS::Kinesis::Stream" => self.property(name, "Name").unwrap_or(name.to_owned()),
            "AWS::Lambda::Function" => self
                .property(name, "FunctionName")
                .unwrap_or(format!("{STACK_NAME}-{name}-AbC123")),
            "AWS::S3::Bucket" => self
                .property(name, "BucketName")
                .unwrap_or(format!("{STACK_NAME}-{}-abc123", name.to_lowercase())),
            "AWS::IAM::Role" => format!("{STACK_NAME}-{name}-AbC123"),
            "AWS::ApiGateway::RestApi" => "a1b2c3d4e5".to_owned(),
            "AWS::EC2::SecurityGroup" => format!("sg-0{:016x}", name.len()),
            "AWS::MSK::ServerlessCluster" => format!(
                "arn:aws:kafka:{REGION}:{ACCOUNT}:cluster/{}/0a1b2c3d-4e5f-6789-abcd-ef0123456789-s1",
                self.property(name, "ClusterName").unwrap()
            ),
            "AWS::SecretsManager::Secret" => {
                format!("arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:{name}-AbCdEf")
            }
            "AWS::SNS::Topic" => format!("arn:aws:sns:{REGION}:{ACCOUNT}:{STACK_NAME}-{name}"),
            "AWS::Glue::Database" => self
                .eval(&self.resource(name)["Properties"]["DatabaseInput"]["Name"])
                .as_str()
                .unwrap()
                .to_owned(),
            // ingest-api's KafkaTopics answer: the topics, joined (ingest_api::topics_resource)
            "Custom::KafkaTopics" => {
                let topics = self.eval(&self.resource(name)["Properties"]["Topics"]);
                strings(&topics).join(",")
            }
            _ => self.property(name, "Name").unwrap_or(name.to_owned()),
        }
    }

    /// What `Fn::GetAtt` gives.
    fn attribute(&self, name: &str, attribute: &str) -> String {
        let kind = self.resource(name)["Type"].as_str().unwrap().to_owned();
        let id = self.reference(name);
        match (kind.as_str(), attribute) {
            ("AWS::S3::Bucket", "Arn") => format!("arn:aws:s3:::{id}"),
            ("AWS::Kinesis::Stream", "Arn") => {
                format!("arn:aws:kinesis:{REGION}:{ACCOUNT}:stream/{id}")
            }
            ("AWS::Lambda::Function", "Arn") => {
                format!("arn:aws:lambda:{REGION}:{ACCOUNT}:function:{id}")
            }
            ("AWS::IAM::Role", "Arn") => format!("arn:aws:iam::{ACCOUNT}:role/{id}"),
            ("AWS::EC2::SecurityGroup", "GroupId") => id,
            ("AWS::MSK::ServerlessCluster", "Arn") => id,
            (_, "Arn") => format!("arn:aws:{}:{REGION}:{ACCOUNT}:{name}", service(&kind)),
            _ => format!("{name}.{attribute}"),
        }
    }

    fn pseudo(&self, name: &str) -> Option<Value> {
        Some(json!(match name {
            "AWS::Region" => REGION,
            "AWS::AccountId" => ACCOUNT,
            "AWS::Partition" => "aws",
            "AWS::URLSuffix" => "amazonaws.com",
            "AWS::StackName" => STACK_NAME,
            "AWS::StackId" => STACK_ID,
            "AWS::NoValue" => NO_VALUE,
            _ => return None,
        }))
    }

    fn reference_value(&self, name: &str) -> Value {
        if let Some(v) = self.pseudo(name) {
            return v;
        }
        if let Some(v) = self.parameters.get(name) {
            return v.clone();
        }
        json!(self.reference(name))
    }

    fn sub(&self, template: &str, vars: &Map<String, Value>) -> String {
        let mut out = String::new();
        let mut rest = template;
        while let Some(start) = rest.find("${") {
            out.push_str(&rest[..start]);
            let end = rest[start..].find('}').expect("a closed ${") + start;
            let name = &rest[start + 2..end];
            if let Some(literal) = name.strip_prefix('!') {
                out.push_str("${");
                out.push_str(literal);
                out.push('}');
            } else if let Some(v) = vars.get(name) {
                out.push_str(&text(&self.eval(v)));
            } else if let Some((resource, attribute)) = name.split_once('.')
                && self.pseudo(name).is_none()
            {
                out.push_str(&self.attribute(resource, attribute));
            } else {
                out.push_str(&text(&self.reference_value(name)));
            }
            rest = &rest[end + 1..];
        }
        out.push_str(rest);
        out
    }

    fn eval(&self, v: &Value) -> Value {
        match v {
            Value::Array(items) => Value::Array(
                items
                    .iter()
                    .map(|i| self.eval(i))
                    .filter(|i| i != NO_VALUE)
                    .collect(),
            ),
            Value::Object(map) if map.len() == 1 => {
                let (key, arg) = map.iter().next().unwrap();
                let args = || arg.as_array().expect("a list of arguments");
                match key.as_str() {
                    "Ref" => self.reference_value(arg.as_str().unwrap()),
                    "Condition" => json!(self.condition(arg.as_str().unwrap())),
                    "Fn::If" => {
                        let a = args();
                        let branch = if self.condition(a[0].as_str().unwrap()) {
                            &a[1]
                        } else {
                            &a[2]
                        };
                        self.eval(branch)
                    }
                    "Fn::Equals" => {
                        let (a, b) = (self.eval(&args()[0]), self.eval(&args()[1]));
                        // a Ref gives a string: compared with a bare number, what CloudFormation
                        // does is not what the reader sees (write the number as a string)
                        assert!(
                            !(a.is_number() || b.is_number()),
                            "Fn::Equals of {a} and {b}: quote the number"
                        );
                        json!(a == b)
                    }
                    "Fn::Not" => json!(!self.eval(&args()[0]).as_bool().unwrap()),
                    "Fn::And" => json!(args().iter().all(|c| self.eval(c).as_bool().unwrap())),
                    "Fn::Or" => json!(args().iter().any(|c| self.eval(c).as_bool().unwrap())),
                    "Fn::Contains" => {
                        let list = self.eval(&args()[0]);
                        let item = self.eval(&args()[1]);
                        json!(list.as_array().unwrap().contains(&item))
                    }
                    "Fn::Join" => {
                        let sep = args()[0].as_str().unwrap();
                        json!(strings(&self.eval(&args()[1])).join(sep))
                    }
                    "Fn::Split" => {
                        let sep = args()[0].as_str().unwrap();
                        let s = text(&self.eval(&args()[1]));
                        Value::Array(s.split(sep).map(|p| json!(p)).collect())
                    }
                    "Fn::Select" => {
                        let i: usize = text(&self.eval(&args()[0])).parse().unwrap();
                        let list = self.eval(&args()[1]);
                        list.as_array()
                            .unwrap()
                            .get(i)
                            .cloned()
                            .unwrap_or_else(|| panic!("Fn::Select {i} of {list}"))
                    }
                    "Fn::Sub" => match arg {
                        Value::String(s) => json!(self.sub(s, &Map::new())),
                        Value::Array(a) => {
                            json!(self.sub(a[0].as_str().unwrap(), a[1].as_object().unwrap()))
                        }
                        other => panic!("Fn::Sub {other}"),
                    },
                    "Fn::GetAtt" => {
                        let (resource, attribute) = match arg {
                            Value::String(s) => s.split_once('.').unwrap(),
                            Value::Array(a) => (a[0].as_str().unwrap(), a[1].as_str().unwrap()),
                            other => panic!("Fn::GetAtt {other}"),
                        };
                        json!(self.attribute(resource, attribute))
                    }
                    other if other.starts_with("Fn::") => panic!("{other} is not modelled"),
                    _ => self.object(map),
                }
            }
            Value::Object(map) => self.object(map),
            other => other.clone(),
        }
    }

    fn object(&self, map: &Map<String, Value>) -> Value {
        Value::Object(
            map.iter()
                .map(|(k, v)| (k.clone(), self.eval(v)))
                .filter(|(_, v)| v != NO_VALUE)
                .collect(),
        )
    }
}

fn service(kind: &str) -> String {
    kind.split("::").nth(1).unwrap_or("x").to_lowercase()
}

/// A value as CloudFormation turns it into a string.
fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Array(items) => items.iter().map(text).collect::<Vec<_>>().join(","),
        other => other.to_string(),
    }
}

/// The strings of a value that is one or a list of them.
pub fn strings(v: &Value) -> Vec<String> {
    match v {
        Value::Array(items) => items.iter().flat_map(strings).collect(),
        other => vec![text(other)],
    }
}

/// Whether an IAM resource pattern (`*` any run, `?` one character) matches `arn`.
pub fn arn_matches(pattern: &str, arn: &str) -> bool {
    fn go(p: &[u8], s: &[u8]) -> bool {
        match (p.first(), s.first()) {
            (None, None) => true,
            (Some(b'*'), _) => go(&p[1..], s) || (!s.is_empty() && go(p, &s[1..])),
            (Some(b'?'), Some(_)) => go(&p[1..], &s[1..]),
            (Some(a), Some(b)) if a == b => go(&p[1..], &s[1..]),
            _ => false,
        }
    }
    go(pattern.as_bytes(), arn.as_bytes())
}

impl Stack {
    pub fn resource(&self, name: &str) -> &Value {
        self.resources
            .get(name)
            .unwrap_or_else(|| panic!("{name} is not created"))
    }

    pub fn of_type<'a>(&'a self, kind: &'a str) -> impl Iterator<Item = (&'a String, &'a Value)> {
        self.resources
            .iter()
            .filter(move |(_, r)| r["Type"] == kind)
    }

    /// Every Allow statement of the role's policies (inline).
    pub fn statements(&self, role: &str) -> Vec<Value> {
        self.resource(role)["Properties"]["Policies"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|p| {
                p["PolicyDocument"]["Statement"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default()
            })
            .filter(|s| s["Effect"] == "Allow")
            .collect()
    }

    /// Whether the role's inline policies allow `action` on `arn`.
    pub fn allows(&self, role: &str, action: &str, arn: &str) -> bool {
        self.statements(role).iter().any(|s| {
            strings(&s["Action"]).iter().any(|a| a == action)
                && strings(&s["Resource"]).iter().any(|r| arn_matches(r, arn))
        })
    }

    /// A function's resolved environment variables.
    pub fn environment(&self, function: &str) -> BTreeMap<String, String> {
        self.resource(function)["Properties"]["Environment"]["Variables"]
            .as_object()
            .into_iter()
            .flatten()
            .map(|(k, v)| (k.clone(), text(v)))
            .collect()
    }
}
