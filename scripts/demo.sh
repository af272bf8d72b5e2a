#!/usr/bin/env bash
# The main job (`make demo`): synthesize the example app with the rules applied via the real cdk CLI, then show
# what the rules find in examples/leaky_app. Exits non-zero only if something behaves unexpectedly.
set -euo pipefail
: "${KQ_CDK_CLI:?run through make demo}" "${BIN:?run through make demo}"

echo "== 1/2 Example app (app.py): cdk synth with AwsSolutionsChecks and KeyQuarantineChecks"
CDK_VALIDATION=false $KQ_CDK_CLI synth --quiet
"$BIN/key-quarantine" scan build/cdk.out --verbose
echo

echo "== 2/2 examples/leaky_app: every mistake the rules catch (cdk synth '**' must fail on them)"
set +e
CDK_VALIDATION=false $KQ_CDK_CLI synth --quiet --app "$BIN/python examples/leaky_app/app.py" --output build/leaky.out '**'
status=$?
set -e
if [ "$status" -eq 0 ]; then
  echo "demo: the leaky app synthesized without errors; the rules should have failed it" >&2
  exit 1
fi
echo
echo "The same findings from 'key-quarantine scan build/leaky.out', one line each:"
"$BIN/key-quarantine" scan build/leaky.out --fail-on never
