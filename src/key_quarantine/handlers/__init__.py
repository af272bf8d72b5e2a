"""The Lambda asset (responder, daily sweep): stdlib and botocore only, never aws_cdk. The CLI imports the same
playbook, so the response is one piece of code wherever it runs."""
