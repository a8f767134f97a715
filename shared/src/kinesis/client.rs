use crate::config::AwsConfig;

/// A Kinesis client for `aws`: its region, endpoint (a local server in tests) and keys when given,
/// else the SDK's default credential chain (the Lambda role in AWS).
pub async fn kinesis_client(aws: &AwsConfig) -> aws_sdk_kinesis::Client {
    let config = crate::aws::sdk_config(aws, aws.kinesis_endpoint_url.as_deref()).await;
    aws_sdk_kinesis::Client::new(&config)
}
