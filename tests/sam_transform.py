"""The CloudFormation `sam deploy` would create from template.yaml: the SAM translator (the same
package SAM CLI and CloudFormation's AWS::Serverless transform use), offline.

    AWS_DEFAULT_REGION=eu-west-1 python3 sam_transform.py TEMPLATE PARAMETERS_JSON

Each function's CodeUri is replaced by an S3 URI, as `sam package` replaces it; managed policy names
resolve through the translator's bundled list of AWS managed policies (no IAM call). Prints the
transformed template as JSON, or the translator's errors and exits 1.
"""
import json
import os
import sys

import samtranslator
from cfnlint.decode import decode
from samtranslator.public.exceptions import InvalidDocumentException
from samtranslator.translator.transform import transform

template, matches = decode(sys.argv[1])
assert not matches, matches
for resource in template["Resources"].values():
    if resource["Type"] == "AWS::Serverless::Function":
        resource["Properties"]["CodeUri"] = "s3://pinpipe-artifacts/function.zip"


class BundledPolicies:
    def load(self):
        path = os.path.join(
            os.path.dirname(samtranslator.__file__), "internal", "data", "aws_managed_policies.json"
        )
        with open(path) as f:
            return json.load(f)["aws"]


try:
    out = transform(template, json.loads(sys.argv[2]), BundledPolicies())
except InvalidDocumentException as e:
    print("\n".join(str(c) for c in e.causes), file=sys.stderr)
    sys.exit(1)
print(json.dumps(out, default=str))
