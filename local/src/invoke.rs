//! What the local event-source runners feed: a Lambda handler, in process or over HTTP.

use serde_json::Value;

/// The function a runner invokes.
pub trait Invoke: Sync {
    /// One invocation with `event`; `Err` is a failed invocation (a crash, a timeout).
    fn invoke(&self, event: Value) -> impl Future<Output = Result<Value, String>> + Send;
}
