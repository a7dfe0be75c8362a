#!/bin/bash
# LocalStack ready hook: the AWS resources the services expect in development.
set -euo pipefail
REGION="${AWS_DEFAULT_REGION:-eu-west-2}"

for bucket in lomash-dev-media lomash-dev-assets; do
  awslocal s3api head-bucket --bucket "$bucket" 2>/dev/null \
    || awslocal s3api create-bucket --bucket "$bucket" --region "$REGION" \
         --create-bucket-configuration LocationConstraint="$REGION"
done

for queue in lomash-notifications lomash-notifications-dlq lomash-analytics-events; do
  awslocal sqs create-queue --queue-name "$queue" --region "$REGION" >/dev/null
done

awslocal ses verify-email-identity --email-address no-reply@lomashwood.local --region "$REGION"

for alias in gateway auth product order appointment content customer notification analytics; do
  awslocal secretsmanager describe-secret --secret-id "lomash/dev/$alias" --region "$REGION" >/dev/null 2>&1 \
    || awslocal secretsmanager create-secret --name "lomash/dev/$alias" --region "$REGION" \
         --secret-string '{"placeholder": "development"}' >/dev/null
done
echo "lomash-wood: LocalStack resources ready"
