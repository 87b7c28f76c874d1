#!/usr/bin/env python3
"""The deploy check: template.yaml transformed by aws-sam-translator (every function's code pointed
at a dummy artefact in moto's S3), created as a stack in moto's CloudFormation, must reach
CREATE_COMPLETE; then, from the transformed template (moto skips the AWS::ApiGatewayV2
resources, so the API is read from the template itself):

- every route of the API (openapi.json: each operation's operationId is its function), the
  console's two paths and the $default route have exactly one HTTP API route, integrated with
  their own function, no function has a route it should not, and no route key ends in "/";
- a read-only route (GET) may not write: no DynamoDB write or SQS send in its function's role,
  but the UpdateItem of its token's `lastUsedAt` alone (an IAM condition on the attributes);
- only the functions that seal or open secrets may use the secrets' KMS key;
- no IAM statement names `Resource: "*"` except those listed in ALLOWED_STARS, each with why;
- every function has a log group with a retention; the dead-letter, sender-error and API 5xx
  alarms exist, and every dead-letter queue has an alarm that fires when a message reaches it (on
  its waiting messages, or on the invocations of the function it feeds; never on
  `NumberOfMessagesSent`, which a redrive does not count), which a planted copy checks; the HTTP API's stage has access logs and default throttling; the scheduled job
  has a dead-letter queue;
- no function's environment holds a secret, and only the functions that use the operator token
  or the Slack client secret may read their SSM parameters;
- the queues and the table keep their data on stack updates and deletion (Retain).

Run by tests/e2e/deploy.rs with .venv-sam's Python (aws-sam-translator, boto3) against moto at
HERALD_MOTO_ENDPOINT. Prints one line per finding and exits 1 if there is any.
"""
import io
import json
import os
import sys
import time
import uuid
import zipfile

import boto3
from samcli.yamlhelper import yaml_parse
from samtranslator.public.translator import ManagedPolicyLoader
from samtranslator.translator.transform import transform

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ENDPOINT = os.environ["HERALD_MOTO_ENDPOINT"]
REGION = "us-east-1"
os.environ.setdefault("AWS_DEFAULT_REGION", REGION)

# The only statements that may name every resource, and why.
ALLOWED_STARS = {
    # SNS has no resource to name for an SMS to a phone number.
    ("sender", "sns:Publish"),
}
WRITES = {"dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:BatchWriteItem",
          "dynamodb:TransactWriteItems", "sqs:SendMessage"}
CONSOLE = {("console", "GET", "/console"), ("console", "GET", "/console/{asset}")}
# The $default route: the notifications API's trailing-slash path, and the envelope for unknown paths.
DEFAULT = ("create-notification", "X-AMAZON-APIGATEWAY-ANY-METHOD", "$default")


def client(service):
    return boto3.client(service, endpoint_url=ENDPOINT, region_name=REGION,
                        aws_access_key_id="test", aws_secret_access_key="test")


def as_list(v):
    return v if isinstance(v, list) else [v]


# SQS metrics that count messages waiting in a queue (NumberOfMessagesSent is not one: SQS does
# not count a message that a redrive moved into a dead-letter queue).
WAITING = {"ApproximateNumberOfMessagesVisible", "ApproximateAgeOfOldestMessage"}


def dead_letter_alarm_findings(resources):
    """Every dead-letter queue (a queue some RedrivePolicy names) has an alarm that fires when a
    message reaches it: on its waiting messages, or on the invocations of the function it feeds."""
    def ref(value):
        if isinstance(value, dict):
            return value.get("Ref") or (value.get("Fn::GetAtt") or [None])[0]
        return None

    dead = {ref(r["Properties"]["RedrivePolicy"]["deadLetterTargetArn"])
            for r in resources.values()
            if r["Type"] == "AWS::SQS::Queue" and "RedrivePolicy" in r.get("Properties", {})}
    fed = {}  # function -> the queue that invokes it
    for r in resources.values():
        if r["Type"] == "AWS::Lambda::EventSourceMapping":
            fed[ref(r["Properties"]["FunctionName"])] = ref(r["Properties"]["EventSourceArn"])
    watched = set()
    for r in resources.values():
        if r["Type"] != "AWS::CloudWatch::Alarm":
            continue
        p = r["Properties"]
        dimensions = {d["Name"]: ref(d["Value"]) for d in p.get("Dimensions", [])}
        if p.get("Namespace") == "AWS/SQS" and p.get("MetricName") in WAITING:
            watched.add(dimensions.get("QueueName"))
        if p.get("Namespace") == "AWS/Lambda" and p.get("MetricName") == "Invocations":
            watched.add(fed.get(dimensions.get("FunctionName")))
    return [f"{queue}: no alarm fires when a message reaches this dead-letter queue"
            for queue in sorted(q for q in dead if q not in watched)]


KMS_ACTIONS = {"kms:Decrypt", "kms:GenerateDataKey", "kms:Encrypt"}
# The functions that seal or open secrets at rest, and so may use the secrets key.
KMS_USERS = {"create-notification", "update-notification", "rotate-notification-secret",
             "put-operational-webhook", "list-notifications", "get-notification", "sender"}


def records_token_use_only(statement):
    """An UpdateItem limited to a token's lastUsedAt (every route records its token's last use)."""
    attributes = (statement.get("Condition", {}).get("ForAllValues:StringEquals", {})
                  .get("dynamodb:Attributes", []))
    return (set(as_list(statement.get("Action", []))) == {"dynamodb:UpdateItem"}
            and set(as_list(attributes)) <= {"pk", "sk", "lastUsedAt"} and attributes)


def main():
    findings = []
    with open(os.path.join(ROOT, "template.yaml")) as f:
        template = yaml_parse(f.read())
    declared = set(template["Resources"])
    # Each function's code: target/lambda/<binary>/, where scripts/build-functions puts it.
    binaries = {name: r["Properties"]["CodeUri"].split("/")[2]
                for name, r in template["Resources"].items() if r["Type"] == "AWS::Serverless::Function"}

    bucket = f"herald-deploy-check-{uuid.uuid4().hex[:12]}"
    s3 = client("s3")
    s3.create_bucket(Bucket=bucket)
    artefact = io.BytesIO()
    with zipfile.ZipFile(artefact, "w") as z:
        z.writestr("bootstrap", "#!/bin/sh\n")
    s3.put_object(Bucket=bucket, Key="dummy.zip", Body=artefact.getvalue())
    for name in binaries:
        template["Resources"][name]["Properties"]["CodeUri"] = f"s3://{bucket}/dummy.zip"
    # x86_64, which this machine can build, rather than the default arm64.
    parameters = {"Architecture": "x86_64"}
    transformed = transform(template, parameters, ManagedPolicyLoader(client("iam")))

    # CloudFormation (moto) creates the stack.
    cfn = client("cloudformation")
    stack = f"herald-{uuid.uuid4().hex[:8]}"
    cfn.create_stack(StackName=stack, TemplateBody=json.dumps(transformed),
                     Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in parameters.items()],
                     Capabilities=["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM", "CAPABILITY_AUTO_EXPAND"])
    status = None
    for _ in range(600):
        status = cfn.describe_stacks(StackName=stack)["Stacks"][0]["StackStatus"]
        if not status.endswith("IN_PROGRESS"):
            break
        time.sleep(0.5)
    if status != "CREATE_COMPLETE":
        events = cfn.describe_stack_events(StackName=stack)["StackEvents"]
        failed = [f"{e['LogicalResourceId']}: {e.get('ResourceStatusReason')}" for e in events if "FAILED" in e["ResourceStatus"]]
        findings.append(f"stack {status}: {failed}")
    resources = transformed["Resources"]
    print(f"deploy check: {len(resources)} resources, stack {status}")
    # Every function runs on the Architecture parameter's processor (asserted from the template:
    # moto's Lambda ignores Architectures and says x86_64 whatever it is given).
    architecture = transformed["Parameters"].get("Architecture", {})
    if architecture.get("Default") != "arm64" or sorted(architecture.get("AllowedValues", [])) != ["arm64", "x86_64"]:
        findings.append(f"Architecture parameter: {architecture}")
    for name, r in resources.items():
        if r["Type"] == "AWS::Lambda::Function" and r["Properties"].get("Architectures") != [{"Ref": "Architecture"}]:
            findings.append(f"{name}: Architectures {r['Properties'].get('Architectures')}, not the parameter")

    # The HTTP API's routes, from the transformed template's OpenAPI body.
    routes = set()
    for r in resources.values():
        if r["Type"] != "AWS::ApiGatewayV2::Api":
            continue
        for path, item in r["Properties"]["Body"]["paths"].items():
            for method, op in item.items():
                uri = op.get("x-amazon-apigateway-integration", {}).get("uri", {})
                sub = uri.get("Fn::Sub", "") if isinstance(uri, dict) else ""
                # ".../functions/${CreateNotificationFunction.Arn}/invocations"
                logical = sub.rsplit("${", 1)[1].split(".Arn", 1)[0] if ".Arn}" in sub else "?"
                routes.add((binaries.get(logical, logical), method.upper(), path))
    with open(os.path.join(ROOT, "openapi.json")) as f:
        document = json.load(f)
    expected = {(op["operationId"], method.upper(), path)
                for path, item in document["paths"].items() for method, op in item.items()
                if isinstance(op, dict) and "operationId" in op} | CONSOLE | {DEFAULT}
    for route in sorted(routes - expected):
        findings.append(f"route not in the API's route table: {route}")
    for route in sorted(expected - routes):
        findings.append(f"route missing from the template: {route}")
    for route in sorted(r for r in routes if r[2].endswith("/")):
        findings.append(f"a route key ends in '/' (HTTP APIs drop or refuse it): {route}")
    read_only = {f for f, m, _ in expected if m == "GET"} - {f for f, m, _ in expected if m != "GET"}

    # IAM: read-only routes write nothing; no "*" resource but the allowed ones.
    for name, binary in binaries.items():
        role = resources.get(f"{name}Role", {})
        for policy in role.get("Properties", {}).get("Policies", []):
            for statement in as_list(policy["PolicyDocument"]["Statement"]):
                actions = set(as_list(statement.get("Action", [])))
                if actions & KMS_ACTIONS and binary not in KMS_USERS:
                    findings.append(f"{binary} may use the secrets key: {sorted(actions & KMS_ACTIONS)}")
                if binary in read_only and actions & WRITES and not records_token_use_only(statement):
                    findings.append(f"{binary} (read-only) may write: {sorted(actions & WRITES)}")
                if "*" in as_list(statement.get("Resource", [])):
                    for action in sorted(actions):
                        if (binary, action) not in ALLOWED_STARS:
                            findings.append(f"{binary}: {action} on Resource \"*\"")

    # No function's environment holds a secret; only their own functions may read the secrets'
    # parameters.
    secret_readers = {"create-organization": "OperatorTokenParameter",
                      "update-organization": "OperatorTokenParameter",
                      "create-notification": "SlackClientSecretParameter",
                      "update-notification": "SlackClientSecretParameter"}
    for name, r in resources.items():
        if r["Type"] != "AWS::Lambda::Function":
            continue
        variables = r["Properties"].get("Environment", {}).get("Variables", {})
        for key in variables:
            if key in ("HERALD_OPERATOR_TOKEN", "HERALD_SLACK_CLIENT_SECRET") or "SECRET" in key and not key.endswith("_PARAMETER"):
                findings.append(f"{name}: its environment holds the secret {key}")
    for name, binary in binaries.items():
        role = resources.get(f"{name}Role", {})
        reads = set()
        for policy in role.get("Properties", {}).get("Policies", []):
            for statement in as_list(policy["PolicyDocument"]["Statement"]):
                if any(a.startswith("ssm:") for a in as_list(statement.get("Action", []))):
                    reads.add(json.dumps(statement.get("Resource")))
        own = secret_readers.get(binary)
        if reads and (own is None or not all(own in r for r in reads)):
            findings.append(f"{binary} may read SSM parameters it does not use: {sorted(reads)}")
        if own and not reads:
            findings.append(f"{binary} cannot read its secret's parameter {own}")

    # Observability: every function's log group has a retention; the alarms exist; the API
    # logs every request and throttles; the scheduled job has a dead-letter queue.
    functions = {name for name, r in resources.items() if r["Type"] == "AWS::Lambda::Function"}
    kept = set()
    for r in resources.values():
        if r["Type"] == "AWS::Logs::LogGroup" and "RetentionInDays" in r["Properties"]:
            sub = r["Properties"].get("LogGroupName", {})
            if isinstance(sub, dict) and "Fn::Sub" in sub:
                kept.add(sub["Fn::Sub"].removeprefix("/aws/lambda/${").removesuffix("}"))
    for name in sorted(functions - kept):
        findings.append(f"{name}: no log group with a retention")
    alarms = {name for name, r in resources.items() if r["Type"] == "AWS::CloudWatch::Alarm"}
    for name in ("DeadLettersAlarm", "FanoutDeadLettersAlarm", "SenderErrorsAlarm", "Api5xxAlarm"):
        if name not in alarms:
            findings.append(f"alarm {name} is missing")
    findings += dead_letter_alarm_findings(resources)
    # The check itself catches the alarm that cannot fire: the same resources with every alarm on
    # the SQS metric that a redrive does not count.
    planted = json.loads(json.dumps(resources))
    for r in planted.values():
        if r["Type"] == "AWS::CloudWatch::Alarm":
            r["Properties"].update(Namespace="AWS/SQS", MetricName="NumberOfMessagesSent")
    if not dead_letter_alarm_findings(planted):
        findings.append("the dead-letter alarm check passed alarms on NumberOfMessagesSent")
    stages = [r["Properties"] for r in resources.values() if r["Type"] == "AWS::ApiGatewayV2::Stage"]
    if not any("AccessLogSettings" in p and "ThrottlingRateLimit" in p.get("DefaultRouteSettings", {}) for p in stages):
        findings.append("the HTTP API's stage has no access log or no default throttling")
    rules = [r["Properties"] for r in resources.values() if r["Type"] == "AWS::Events::Rule"]
    if not rules or not all("DeadLetterConfig" in t for p in rules for t in p.get("Targets", [])):
        findings.append("a scheduled job has no dead-letter queue")

    # The outbox relay: the table's sparse index, swept each minute by the relay function.
    table = resources.get("Table", {}).get("Properties", {})
    outbox = [i for i in table.get("GlobalSecondaryIndexes", []) if i["IndexName"] == "outbox"]
    if not outbox or [k["AttributeName"] for k in outbox[0]["KeySchema"]] != ["outboxShard", "outboxAt"]:
        findings.append(f"Table: no outbox index keyed by outboxShard and outboxAt: {outbox}")
    if not any(p.get("ScheduleExpression") == "rate(1 minute)"
               and any("RelayFunction" in json.dumps(t.get("Arn")) for t in p.get("Targets", []))
               for p in rules):
        findings.append("the relay function is not scheduled each minute")

    # The delivery queue redrives after as many receives as the retry schedule gives attempts,
    # and the sender is told both (it refuses to start when they disagree).
    redrive = resources.get("DeliveryQueue", {}).get("Properties", {}).get("RedrivePolicy", {})
    if redrive.get("maxReceiveCount") != {"Ref": "DeliveryAttempts"}:
        findings.append(f"DeliveryQueue: maxReceiveCount is {redrive.get('maxReceiveCount')}, not DeliveryAttempts")
    sender = resources.get("SenderFunction", {}).get("Properties", {})
    variables = sender.get("Environment", {}).get("Variables", {})
    for key, parameter in (("HERALD_RETRY_SCHEDULE", "RetrySchedule"), ("HERALD_DELIVERY_ATTEMPTS", "DeliveryAttempts")):
        if variables.get(key) != {"Ref": parameter}:
            findings.append(f"SenderFunction: {key} is {variables.get(key)}, not the {parameter} parameter")

    # Data that outlives the stack's updates.
    # (The template's own: SAM's dead-letter queue of the scheduled job holds only failed runs.)
    for name, r in resources.items():
        if r["Type"] in ("AWS::DynamoDB::Table", "AWS::SQS::Queue") and name in declared:
            for key in ("DeletionPolicy", "UpdateReplacePolicy"):
                if r.get(key) != "Retain":
                    findings.append(f"{name}: {key} is {r.get(key)}, not Retain")

    for finding in findings:
        print("deploy check:", finding)
    print(f"deploy check: {len(routes)} routes, {len(binaries)} functions, {len(findings)} findings")
    return 1 if findings else 0


if __name__ == "__main__":
    sys.exit(main())
