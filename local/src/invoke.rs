//! What the local event-source runners feed: a Lambda handler, in process or over HTTP; and the
//! one adapter that invokes a function's handler in process as the Lambda runtime does.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use lambda_runtime::{Context, LambdaEvent};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

/// The function a runner invokes.
pub trait Invoke: Sync {
    /// One invocation with `event`; `Err` is a failed invocation (a crash, a timeout).
    fn invoke(&self, event: Value) -> impl Future<Output = Result<Value, String>> + Send;
}

/// Invokes a function's handler in process with the event JSON a trigger would send, as the
/// Lambda runtime does: the JSON decoded into the handler's event type (a payload that does not
/// decode fails the invocation, as it does on Lambda), a context with a request id and, when
/// `time_left` is given, the deadline that leaves. Returns the handler's answer as it is.
pub async fn call<E, R, Err, Fut>(
    handler: impl FnOnce(LambdaEvent<E>) -> Fut,
    event: Value,
    time_left: Option<Duration>,
) -> Result<R, Err>
where
    E: DeserializeOwned,
    Fut: Future<Output = Result<R, Err>>,
    Err: From<serde_json::Error>,
{
    let payload: E = serde_json::from_value(event)?;
    handler(LambdaEvent::new(payload, context(time_left))).await
}

/// [`call`], with the answer encoded as the runtime sends it back: JSON.
pub async fn call_json<E, R, Err, Fut>(
    handler: impl FnOnce(LambdaEvent<E>) -> Fut,
    event: Value,
) -> Result<Value, Err>
where
    E: DeserializeOwned,
    R: Serialize,
    Fut: Future<Output = Result<R, Err>>,
    Err: From<serde_json::Error>,
{
    let answer = call(handler, event, None).await?;
    Ok(serde_json::to_value(answer)?)
}

/// The invocation's context: a fresh request id, and a deadline `time_left` from now (none: the
/// epoch, which a handler reads as no time known).
fn context(time_left: Option<Duration>) -> Context {
    let mut context = Context::default();
    context.request_id = format!("local-{}", pinpipe::failed_batch::random_uuid());
    if let Some(left) = time_left {
        let deadline = SystemTime::now() + left;
        context.deadline = deadline
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
    }
    context
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize, Serialize, PartialEq)]
    struct Ping {
        n: u32,
    }

    async fn echo(event: LambdaEvent<Ping>) -> Result<(Ping, u64, bool), serde_json::Error> {
        let left = Duration::from_millis(event.context.deadline)
            .checked_sub(SystemTime::now().duration_since(UNIX_EPOCH).unwrap())
            .map_or(0, |d| d.as_secs());
        Ok((event.payload, left, event.context.request_id.is_empty()))
    }

    #[tokio::test]
    async fn a_handler_gets_its_typed_event_a_request_id_and_the_time_left() {
        let (ping, left, no_id) = call(
            echo,
            serde_json::json!({"n": 7}),
            Some(Duration::from_secs(60)),
        )
        .await
        .unwrap();
        assert_eq!((ping, no_id), (Ping { n: 7 }, false));
        assert!((1..=60).contains(&left), "{left}");
    }

    #[tokio::test]
    async fn an_event_that_does_not_decode_fails_the_invocation_and_the_answer_is_json() {
        assert!(
            call_json(echo, serde_json::json!({"n": "seven"}))
                .await
                .is_err()
        );
        let answer = call_json(echo, serde_json::json!({"n": 1})).await.unwrap();
        assert_eq!(answer[0], serde_json::json!({"n": 1}));
        assert_eq!(answer[1], 0, "no deadline given");
    }
}
