//! The AWS SDK's shared configuration, from [`AwsConfig`]; secrets from Secrets Manager.

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

/// The `SecretString` of the secret `secret_id` (a name or an ARN).
#[cfg(feature = "secrets")]
pub async fn secret_string(aws: &AwsConfig, secret_id: &str) -> crate::Result<String> {
    use crate::Error;
    let config = sdk_config(aws, aws.secretsmanager_endpoint_url.as_deref()).await;
    let secret = aws_sdk_secretsmanager::Client::new(&config)
        .get_secret_value()
        .secret_id(secret_id)
        .send()
        .await
        .map_err(|e| Error::config_from(format!("reading secret {secret_id:?}"), e))?;
    secret
        .secret_string()
        .map(str::to_owned)
        .ok_or_else(|| Error::config(format!("secret {secret_id:?} holds no SecretString")))
}
