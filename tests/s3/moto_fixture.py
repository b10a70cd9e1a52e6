"""The S3 test's side of moto (tests/e2e/s3.rs), with boto3 as the independent client.

  setup ENDPOINT BUCKET  -> creates an IAM user allowed s3:* and its access key (the only unsigned
                            requests moto accepts, see INITIAL_NO_AUTH_ACTION_COUNT), then the bucket
                            with that key; prints {"access_key_id", "secret_access_key"}
  dump ENDPOINT BUCKET   -> with the credentials in the environment, prints every object as
                            {"key", "content_type", "metadata", "lines"} (the gunzipped NDJSON lines)
"""

import gzip
import json
import sys

import boto3
from botocore.config import Config


def client(service, endpoint, **creds):
    return boto3.client(
        service,
        endpoint_url=endpoint,
        region_name="eu-west-1",
        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}),
        **creds,
    )


def setup(endpoint, bucket):
    anonymous = {"aws_access_key_id": "setup", "aws_secret_access_key": "setup"}
    iam = client("iam", endpoint, **anonymous)
    iam.create_user(UserName="okta-ingest")
    iam.put_user_policy(
        UserName="okta-ingest",
        PolicyName="s3",
        PolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}],
            }
        ),
    )
    key = iam.create_access_key(UserName="okta-ingest")["AccessKey"]
    creds = {
        "aws_access_key_id": key["AccessKeyId"],
        "aws_secret_access_key": key["SecretAccessKey"],
    }
    client("s3", endpoint, **creds).create_bucket(
        Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"}
    )
    print(json.dumps({"access_key_id": creds["aws_access_key_id"],
                      "secret_access_key": creds["aws_secret_access_key"]}))


def dump(endpoint, bucket):
    s3 = client("s3", endpoint)
    out = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for item in page.get("Contents", []):
            obj = s3.get_object(Bucket=bucket, Key=item["Key"])
            body = gzip.decompress(obj["Body"].read()).decode("utf-8")
            out.append(
                {
                    "key": item["Key"],
                    "content_type": obj["ContentType"],
                    "metadata": obj["Metadata"],
                    "lines": body.splitlines(),
                }
            )
    print(json.dumps(out))


if __name__ == "__main__":
    {"setup": setup, "dump": dump}[sys.argv[1]](sys.argv[2], sys.argv[3])
