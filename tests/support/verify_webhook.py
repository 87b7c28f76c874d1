"""Verifies one webhook request with the official Standard Webhooks library (`standardwebhooks`,
installed into .venv-webhooks by scripts/test), once per secret.

stdin: {"body": "<the exact body>", "headers": {...}, "secrets": ["whsec_…", …], "now": <unix s>}
stdout: a JSON list, per secret: "ok" or the library's error ("No matching signature found").
`now` is the sender's clock (a test may move it a day on); the library's 5-minute timestamp
tolerance is checked against it.
"""
import datetime
import json
import sys

import standardwebhooks.webhooks as webhooks

request = json.load(sys.stdin)


class SendersClock(datetime.datetime):
    @classmethod
    def now(cls, tz=None):
        return datetime.datetime.fromtimestamp(request["now"], tz=tz)


webhooks.datetime = SendersClock
results = []
for secret in request["secrets"]:
    try:
        webhooks.Webhook(secret).verify(request["body"], request["headers"], json_parse=False)
        results.append("ok")
    except webhooks.WebhookVerificationError as e:
        results.append(str(e))
print(json.dumps(results))
