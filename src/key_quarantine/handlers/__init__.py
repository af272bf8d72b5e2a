"""The responder's Lambda asset: stdlib and boto3 only, never aws_cdk (the playbook lives here)."""
