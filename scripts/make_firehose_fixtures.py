#!/usr/bin/env python3
"""Builds the Firehose transformation event fixtures (schemas/fixtures/example-firehose-*.json)
from the Bedrock record fixtures. Deterministic (gzip mtime 0): re-running changes nothing.
Usage: python3 scripts/make_firehose_fixtures.py"""
import base64, copy, gzip, json, pathlib

FIX = pathlib.Path(__file__).resolve().parent.parent / "schemas" / "fixtures"
ACCOUNT = "111122223333"
STREAM_ARN = f"arn:aws:kinesis:us-east-1:{ACCOUNT}:stream/bedrock-invocation-logs"
DELIVERY_ARN = f"arn:aws:firehose:us-east-1:{ACCOUNT}:deliverystream/spendguard-lake"
ARRIVAL = 1795947400000


def bedrock(case, **changes):
    rec = json.loads((FIX / f"example-bedrock-{case}.json").read_text())
    rec.update(changes)
    return json.dumps(rec, separators=(",", ":"), ensure_ascii=False)


def envelope(messages, first_id=0, message_type="DATA_MESSAGE"):
    return {
        "messageType": message_type,
        "owner": ACCOUNT,
        "logGroup": "/aws/bedrock/modelinvocations",
        "logStream": "aws/bedrock/modelinvocations",
        "subscriptionFilters": ["spendguard"],
        "logEvents": [
            {"id": f"{first_id + i:056d}", "timestamp": 1795947330000 + i, "message": m}
            for i, m in enumerate(messages)
        ],
    }


def gz(obj):
    raw = obj if isinstance(obj, bytes) else json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()
    return gzip.compress(raw, compresslevel=6, mtime=0)


def record(n, payload, kinesis=True):
    r = {
        "recordId": f"4954698668313554428650745793632167567570019247115678{n:04d}000000000000",
        "approximateArrivalTimestamp": ARRIVAL + n,
        "data": base64.b64encode(payload).decode(),
    }
    if kinesis:
        r["kinesisRecordMetadata"] = {
            "shardId": "shardId-000000000000",
            "partitionKey": f"c3f6e8a1b2d4{n:04d}",
            "approximateArrivalTimestamp": ARRIVAL + n,
            "sequenceNumber": f"4959760148163428657810193768224651929934716094464016{n:04d}",
            "subsequenceNumber": 0,
        }
    return r


def event(records, kinesis=True):
    e = {"invocationId": "00540a87-5050-496a-84e4-e7d92bbaf5e2", "deliveryStreamArn": DELIVERY_ARN,
         "region": "us-east-1", "records": records}
    if kinesis:
        e["sourceKinesisStreamArn"] = STREAM_ARN
    return e


def write(name, obj):
    (FIX / f"example-firehose-{name}.json").write_text(json.dumps(obj, indent=2) + "\n")


def rid(n):
    return f"6f1e0b0a-{n:04d}-4c3e-9b1a-0000000f{n:04d}"


many = [
    ["converse-nova-cache-read", "converse-stream-1h-cache", "invoke-anthropic-cache-creation",
     "converse-global-profile", "converse-eu-profile"],
    ["converse-apac-profile", "invoke-foundation-model-arn", "converse-application-profile-arn",
     "invoke-provisioned-model-arn", "error"],
    ["invoke-embeddings", "converse-assumed-role-metadata", "converse-long-context"],
]
records = []
for k, cases in enumerate(many):
    records.append(record(k, gz(envelope([bedrock(c) for c in cases], first_id=100 * k))))
# an unknown model: priced at the fallback rate, never $0
records.append(record(3, gz(envelope([bedrock("converse-nova-cache-read", modelId="acme.unknown-model-v9:0",
                                              requestId=rid(1))], first_id=300))))
write("kinesis-many", event(records))

good = bedrock("converse-global-profile", requestId=rid(2))
bad_records = [
    record(0, gz(json.loads((FIX / "example-cwl-control-message.json").read_text()))),
    record(1, gz(envelope([good]))[:40]),  # truncated gzip
    record(2, json.dumps(envelope([good])).encode()),  # not gzip
    record(3, gz(envelope([bedrock("converse-eu-profile", requestId=rid(3)),
                           '{"schemaType":"ModelInvocationLog","requestId":"broken",',
                           bedrock("invoke-embeddings", requestId=rid(4))], first_id=400))),
    record(4, gz(envelope([]))),
    record(5, gz(envelope(["not json at all", '{"requestId":"x","timestamp":"yesterday"}'], first_id=500))),
]
write("kinesis-bad", event(bad_records))

straddle = envelope([
    bedrock("converse-nova-cache-read", timestamp="2026-11-20T23:59:58Z", requestId=rid(10)),
    bedrock("converse-global-profile", timestamp="2026-11-21T00:00:01Z", requestId=rid(11)),
    bedrock("invoke-anthropic-cache-creation", timestamp="2026-11-20T23:59:59Z", requestId=rid(12)),
    '{"requestId":"bad-midnight-event"',
], first_id=1000)
plain = envelope([bedrock("converse-eu-profile", requestId=rid(13))], first_id=1100)
write("kinesis-midnight", event([record(0, gz(straddle)), record(1, gz(plain))]))
write("directput-midnight", event([record(0, gz(straddle), kinesis=False)], kinesis=False))
write("kinesis-empty", event([]))
print("wrote", sorted(p.name for p in FIX.glob("example-firehose-*.json")))
