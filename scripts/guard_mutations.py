"""Shows that every cfn-guard rule in policy/spendguard.guard can fail: for each rule, copies of
template.yaml broken in one place must fail exactly that rule (exit 19), and the real template must
pass all of them. A rule no mutation breaks is an error too.

Usage: python scripts/guard_mutations.py CFN_GUARD [TEMPLATE] [RULES]
"""
import os
import re
import subprocess
import sys
import tempfile

RAW_MAPPING = """  LooseMapping:
    Type: AWS::Lambda::EventSourceMapping
    Properties:
      FunctionName: !Ref AggregatorFunction
      EventSourceArn: !GetAtt Stream.Arn
      StartingPosition: LATEST

"""

# (rule that must fail, what to find, what to put instead, how many occurrences to replace)
MUTATIONS = [
    ("s3_encrypted_private_tls", "RestrictPublicBuckets: true", "RestrictPublicBuckets: false", 1),
    ("s3_encrypted_private_tls", "Rules: [{ObjectOwnership: BucketOwnerEnforced}]",
     "Rules: [{ObjectOwnership: ObjectWriter}]", 1),
    ("s3_tls_only", '{Bool: {aws:SecureTransport: "false"}}', '{Bool: {aws:SecureTransport: "true"}}', 1),
    ("dynamodb_encrypted_pitr", "{PointInTimeRecoveryEnabled: true}", "{PointInTimeRecoveryEnabled: false}", 1),
    ("dynamodb_encrypted_pitr", "        SSEEnabled: true\n", "        SSEEnabled: false\n", 1),
    ("kinesis_encrypted", "        EncryptionType: KMS\n", "        EncryptionType: NONE\n", 1),
    ("sns_encrypted", "      DisplayName: spendguard operations\n      KmsMasterKeyId: !Ref Key\n",
     "      DisplayName: spendguard operations\n", 1),
    ("log_groups_encrypted_with_retention", "      RetentionInDays: !Ref FunctionLogRetentionDays\n", "", 1),
    ("log_groups_encrypted_with_retention", "      KmsKeyId: !GetAtt Key.Arn\n", "", 1),
    ("athena_results_encrypted",
     "          EncryptionConfiguration:\n            EncryptionOption: SSE_KMS\n            KmsKey: !GetAtt Key.Arn\n",
     "", 1),
    ("firehose_parquet_lake", "          SizeInMBs: 128\n", "          SizeInMBs: 32\n", 1),
    ("firehose_parquet_lake", "CompressionFormat: UNCOMPRESSED", "CompressionFormat: GZIP", 1),
    ("firehose_error_prefix", "ErrorOutputPrefix: errors/!{firehose:error-output-type}/",
     "ErrorOutputPrefix: errors/", 1),
    ("firehose_error_prefix", "ErrorOutputPrefix: errors/!{firehose:error-output-type}/",
     "ErrorOutputPrefix: errors/!{firehose:error-output-type}/!{partitionKeyFromLambda:dt}/", 1),
    ("subscription_random", "Distribution: Random", "Distribution: ByLogStream", 1),
    ("stream_sources_bounded", "            BisectBatchOnFunctionError: true\n", "", 1),
    ("stream_sources_bounded", "            MaximumRetryAttempts: 10\n", "            MaximumRetryAttempts: -1\n", 1),
    ("stream_sources_bounded", "            MaximumRecordAgeInSeconds: 3600\n", "", 1),
    ("stream_sources_bounded", "            FunctionResponseTypes: [ReportBatchItemFailures]\n", "", 1),
    ("stream_sources_bounded",
     "            DestinationConfig:\n              OnFailure:\n                Destination: !GetAtt LakeBucket.Arn\n"
     "            FilterCriteria:", "            FilterCriteria:", 1),
    ("raw_mappings_bounded", "\nOutputs:\n", "\n" + RAW_MAPPING + "Outputs:\n", 1),
    ("iam_wildcards_justified", "- Sid: JustifiedXRayHasNoResources", "- Sid: XRay", 1),
    ("iam_wildcards_justified", "Action: [s3:PutObject, s3:ListBucket]", "Action: s3:*", 1),
    ("managed_policy_wildcards_justified", "- Sid: SpendguardDenyBedrock\n            Effect: Deny",
     "- Sid: SpendguardDenyBedrock\n            Effect: Allow", 1),
    ("functions_house_style", "    Default: arm64\n", "    Default: x86_64\n", 1),
    ("functions_house_style", "    Tracing: Active\n", "", 1),
    ("functions_house_style", "      Role: !GetAtt TransformRole.Arn\n", "", 1),
    ("functions_house_style", "      LoggingConfig:\n        LogGroup: !Ref EnforcerLogGroup\n        LogFormat: Text\n",
     "", 1),
    ("price_overlay_versioned",
     "        Rules: [{ObjectOwnership: BucketOwnerEnforced}]\n      VersioningConfiguration: {Status: Enabled}\n"
     "      LoggingConfiguration:",
     "        Rules: [{ObjectOwnership: BucketOwnerEnforced}]\n      VersioningConfiguration: {Status: Suspended}\n"
     "      LoggingConfiguration:", 1),
    ("price_overlay_versioned", "          SPENDGUARD_PRICES_BUCKET: !Ref LakeBucket\n          SPENDGUARD_PRICE_MAX_FACTOR",
     "          SPENDGUARD_PRICES_BUCKET: !Ref AccessLogBucket\n          SPENDGUARD_PRICE_MAX_FACTOR", 1),
    ("enforcer_writes_tag_conditioned",
     "                Action: [iam:PutRolePolicy, iam:DeleteRolePolicy]\n"
     "                Resource: !Sub \"arn:${AWS::Partition}:iam::${AWS::AccountId}:role/*\"\n"
     "                Condition: !If\n"
     "                  - EnforceTaggedOnly\n"
     "                  - StringEquals: {\"aws:ResourceTag/spendguard:enforceable\": \"true\"}\n"
     "                  - !Ref \"AWS::NoValue\"\n",
     "                Action: [iam:PutRolePolicy, iam:DeleteRolePolicy]\n"
     "                Resource: !Sub \"arn:${AWS::Partition}:iam::${AWS::AccountId}:role/*\"\n", 1),
    ("enforcer_writes_tag_conditioned",
     "Action: [iam:ListAttachedUserPolicies, iam:ListGroupsForUser, iam:ListUserTags]",
     "Action: [iam:ListAttachedUserPolicies, iam:ListGroupsForUser, iam:ListUserTags, iam:AttachUserPolicy]", 1),
    ("enforcer_writes_tag_conditioned",
     'StringEquals: {"aws:ResourceTag/spendguard:exempt": "true"}',
     'StringEquals: {"aws:ResourceTag/spendguard:exempt": "yes"}', 1),
    ("enforcer_writes_tag_conditioned",
     ":role/spendguard-${AWS::StackName}/*\"\n              # Principals tagged",
     ":role/*\"\n              # Principals tagged", 1),
]


def failed_rules(guard, rules, data):
    r = subprocess.run([guard, "validate", "--rules", rules, "--data", data, "--show-summary", "fail"],
                       capture_output=True, text=True)
    failed = set(re.findall(r"^\S+\.guard/(\w+)\s+FAIL\s*$", r.stdout, re.M))
    return r.returncode, failed


def main():
    guard = sys.argv[1]
    template = sys.argv[2] if len(sys.argv) > 2 else "template.yaml"
    rules = sys.argv[3] if len(sys.argv) > 3 else "policy/spendguard.guard"
    text = open(template).read()
    all_rules = set(re.findall(r"^rule (\w+)", open(rules).read(), re.M))
    code, failed = failed_rules(guard, rules, template)
    if code != 0 or failed:
        sys.exit(f"FAIL: the template itself fails {sorted(failed)} (exit {code})")
    problems, broken = [], set()
    with tempfile.TemporaryDirectory() as tmp:
        for i, (rule, old, new, count) in enumerate(MUTATIONS):
            if text.count(old) < count:
                problems.append(f"mutation {i} ({rule}): {old!r} is not in the template")
                continue
            path = os.path.join(tmp, f"broken-{i}.yaml")
            open(path, "w").write(text.replace(old, new, count))
            code, failed = failed_rules(guard, rules, path)
            if code != 19 or failed != {rule}:
                problems.append(f"mutation {i} ({rule}: {old.strip()!r} -> {new.strip()!r}): "
                                f"exit {code}, failed {sorted(failed)}")
            else:
                broken.add(rule)
    unbroken = all_rules - broken
    if unbroken:
        problems.append(f"rules no mutation made fail: {sorted(unbroken)}")
    if problems:
        print("\n".join(f"FAIL: {p}" for p in problems))
        sys.exit(1)
    print(f"ok: the template passes all {len(all_rules)} guard rules; {len(MUTATIONS)} broken copies "
          f"each fail exactly the rule they target (every rule fails at least once)")


if __name__ == "__main__":
    main()
