//! CloudFormation custom resources (feature `custom-resource`): the request CloudFormation sends a
//! function, and the answer it waits for — a JSON document PUT to the request's pre-signed
//! `ResponseURL`. CloudFormation waits for that answer (up to an hour) whatever the function
//! returns, so every request is answered, a failure as `FAILED` with its reason.
//!
//! The template's `KafkaTopics` resource uses it: with the MSK Serverless cluster the stack
//! creates, `ingest-api` creates the three topics before the event source mappings read them (MSK
//! Serverless has no `AWS::MSK::Topic`; its topics are made with Kafka's own CreateTopics).

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::{Error, Result};

/// What CloudFormation asks.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub enum RequestType {
    Create,
    Update,
    Delete,
}

/// A custom resource request, as CloudFormation sends it (its property values are strings).
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Request {
    pub request_type: RequestType,
    #[serde(rename = "ResponseURL")]
    pub response_url: String,
    pub stack_id: String,
    pub request_id: String,
    pub logical_resource_id: String,
    #[serde(default)]
    pub physical_resource_id: Option<String>,
    #[serde(default)]
    pub resource_properties: Value,
}

impl Request {
    /// The request in an invocation's payload, or `None` when the payload is not one (an API
    /// Gateway request: the function's other event).
    pub fn from_event(event: &Value) -> Option<Result<Request>> {
        event.get("RequestType")?;
        event.get("ResponseURL")?;
        Some(
            serde_json::from_value(event.clone()).map_err(|e| {
                Error::config(format!("a CloudFormation custom resource request: {e}"))
            }),
        )
    }

    /// A property as a string (`None` when absent).
    pub fn property(&self, name: &str) -> Option<String> {
        match self.resource_properties.get(name)? {
            Value::String(s) => Some(s.clone()),
            other => Some(other.to_string()),
        }
    }

    /// A list property: a JSON list, or one string of comma-separated items.
    pub fn list_property(&self, name: &str) -> Vec<String> {
        match self.resource_properties.get(name) {
            Some(Value::Array(items)) => items
                .iter()
                .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_owned))
                .collect(),
            Some(Value::String(s)) => s
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect(),
            _ => Vec::new(),
        }
    }

    /// The answer to this request: `Ok` is `SUCCESS` with the resource's physical id, `Err` is
    /// `FAILED` with the reason (keeping the physical id CloudFormation knows, so a failed update
    /// does not look like a replacement).
    pub fn response(&self, outcome: std::result::Result<String, String>) -> Response {
        let (status, reason, physical) = match outcome {
            Ok(physical) => ("SUCCESS", None, physical),
            Err(reason) => (
                "FAILED",
                Some(reason),
                self.physical_resource_id
                    .clone()
                    .unwrap_or_else(|| self.logical_resource_id.clone()),
            ),
        };
        Response {
            status: status.into(),
            reason,
            physical_resource_id: physical,
            stack_id: self.stack_id.clone(),
            request_id: self.request_id.clone(),
            logical_resource_id: self.logical_resource_id.clone(),
        }
    }
}

/// The answer CloudFormation waits for.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Response {
    pub status: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub reason: Option<String>,
    pub physical_resource_id: String,
    pub stack_id: String,
    pub request_id: String,
    pub logical_resource_id: String,
}

/// PUTs `response` to the request's pre-signed URL, as CloudFormation wants it: no content type
/// (the URL is signed without one).
pub async fn send(url: &str, response: &Response) -> Result<()> {
    let failed = |e: &dyn std::fmt::Display| {
        Error::config(format!("answering CloudFormation at its ResponseURL: {e}"))
    };
    let body = serde_json::to_vec(response).map_err(|e| failed(&e))?;
    let client = crate::https::client()?;
    let request = hyper::Request::builder()
        .method("PUT")
        .uri(url)
        .header(hyper::header::CONTENT_LENGTH, body.len())
        .body(Full::new(Bytes::from(body)))
        .map_err(|e| failed(&e))?;
    let answer = client.request(request).await.map_err(|e| failed(&e))?;
    let status = answer.status();
    if !status.is_success() {
        let text = answer
            .into_body()
            .collect()
            .await
            .map(|b| String::from_utf8_lossy(&b.to_bytes()).into_owned())
            .unwrap_or_default();
        return Err(failed(&format!("{status}: {text}")));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(kind: &str, physical: Option<&str>) -> Value {
        let mut event = serde_json::json!({
            "RequestType": kind,
            "ServiceToken": "arn:aws:lambda:eu-west-1:123456789012:function:ingest",
            "ResponseURL": "https://cloudformation-custom-resource-response-euwest1.s3.amazonaws.com/x?X-Amz-Signature=s",
            "StackId": "arn:aws:cloudformation:eu-west-1:123456789012:stack/pinpipe/1",
            "RequestId": "a1b2",
            "ResourceType": "Custom::KafkaTopics",
            "LogicalResourceId": "KafkaTopics",
            "ResourceProperties": {"ServiceToken": "arn", "Topics": ["p.pin", "p.geo"], "Partitions": "3"}
        });
        if let Some(id) = physical {
            event["PhysicalResourceId"] = id.into();
        }
        event
    }

    #[test]
    fn a_cloudformation_request_is_read_with_its_string_properties_and_an_api_request_is_not_one() {
        let r = Request::from_event(&request("Create", None))
            .unwrap()
            .unwrap();
        assert_eq!(r.request_type, RequestType::Create);
        assert_eq!(r.list_property("Topics"), ["p.pin", "p.geo"]);
        assert_eq!(r.property("Partitions").as_deref(), Some("3"));
        assert_eq!(r.property("Missing"), None);
        let api = serde_json::json!({"httpMethod": "POST", "path": "/topics/p.pin", "body": "{}"});
        assert!(Request::from_event(&api).is_none());
        let mut bad = request("Create", None);
        bad["RequestType"] = "Rename".into();
        assert!(Request::from_event(&bad).unwrap().is_err());
    }

    #[test]
    fn a_failure_keeps_the_physical_id_cloudformation_knows_and_says_why() {
        let update = Request::from_event(&request("Update", Some("topics-1")))
            .unwrap()
            .unwrap();
        let failed = update.response(Err("broker unreachable".into()));
        assert_eq!(failed.status, "FAILED");
        assert_eq!(failed.physical_resource_id, "topics-1");
        assert_eq!(failed.reason.as_deref(), Some("broker unreachable"));
        let text = serde_json::to_value(&failed).unwrap();
        for field in [
            "Status",
            "Reason",
            "PhysicalResourceId",
            "StackId",
            "RequestId",
            "LogicalResourceId",
        ] {
            assert!(text.get(field).is_some(), "{field} in {text}");
        }
        let create = Request::from_event(&request("Create", None))
            .unwrap()
            .unwrap();
        let done = create.response(Ok("p.pin,p.geo".into()));
        assert_eq!((done.status.as_str(), done.reason), ("SUCCESS", None));
        assert_eq!(done.physical_resource_id, "p.pin,p.geo");
        // a create that failed has no physical id yet: the logical one stands in
        assert_eq!(
            create.response(Err("x".into())).physical_resource_id,
            "KafkaTopics"
        );
    }
}
