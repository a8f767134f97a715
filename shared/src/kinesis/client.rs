use aws_config::BehaviorVersion;
use aws_sdk_kinesis::config::{Credentials, Region};

use crate::config::AwsConfig;

/// A Kinesis client for `aws`: its region, endpoint (a local server in tests) and keys when given,
/// else the SDK's default credential chain (the Lambda role in AWS).
pub async fn kinesis_client(aws: &AwsConfig) -> aws_sdk_kinesis::Client {
    let mut loader = aws_config::defaults(BehaviorVersion::latest());
    if let Some(region) = &aws.region {
        loader = loader.region(Region::new(region.clone()));
    }
    if let Some(endpoint) = &aws.kinesis_endpoint_url {
        loader = loader.endpoint_url(endpoint);
    }
    if let (Some(key), Some(secret)) = (&aws.access_key_id, &aws.secret_access_key) {
        loader = loader.credentials_provider(Credentials::new(
            key,
            secret,
            aws.session_token.clone(),
            None,
            "pinpipe-config",
        ));
    }
    aws_sdk_kinesis::Client::new(&loader.load().await)
}
