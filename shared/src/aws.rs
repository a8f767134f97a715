//! The AWS SDK's shared configuration, from [`AwsConfig`].

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::Credentials;

use crate::config::AwsConfig;

/// The SDK configuration for `aws`, talking to `endpoint` when given (a local server in tests): its
/// region and keys when given, else the SDK's default chain (the Lambda role in AWS).
pub async fn sdk_config(aws: &AwsConfig, endpoint: Option<&str>) -> SdkConfig {
    let mut loader = aws_config::defaults(BehaviorVersion::latest());
    if let Some(region) = &aws.region {
        loader = loader.region(Region::new(region.clone()));
    }
    if let Some(endpoint) = endpoint {
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
    loader.load().await
}
