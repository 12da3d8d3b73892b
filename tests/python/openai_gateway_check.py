"""Drives the http-gateway with the official `openai` Python client, the way
an integrator would, and checks /metrics with prometheus_client's OpenMetrics
parser. Run by tests/tests/http_gateway.rs against a running dataflow:

    python openai_gateway_check.py http://127.0.0.1:PORT API_KEY

Prints one line per check and exits non-zero on the first failure. Asserts
the structure of answers, never their wording (greedy output differs
between CPU builds).
"""

import json
import re
import sys
import urllib.error
import urllib.request

import openai
from prometheus_client.openmetrics.parser import text_string_to_metric_families

MODEL = "shopfloor-assistant"
QUESTION = "What is the spindle temperature?"
READING_SCHEMA = {
    "type": "object",
    "properties": {
        "tag": {"type": "string"},
        "value": {"type": "number"},
        "unit": {"type": "string"},
    },
    "required": ["tag", "value", "unit"],
    "additionalProperties": False,
}


def check(name, condition, detail=""):
    if not condition:
        print(f"FAIL {name}: {detail}")
        sys.exit(1)
    print(f"ok   {name}")


def metrics(base, key):
    request = urllib.request.Request(f"{base}/metrics", headers={"Authorization": f"Bearer {key}"})
    with urllib.request.urlopen(request, timeout=10) as response:
        content_type = response.headers.get("Content-Type", "")
        text = response.read().decode()
    check("metrics content type is OpenMetrics", content_type.startswith("application/openmetrics-text"), content_type)
    samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = tuple(sorted(sample.labels.items()))
            samples[(sample.name, labels)] = sample.value
    return samples


def value(samples, name, **labels):
    """Sum of the samples of `name` whose labels include `labels`."""
    return sum(v for (n, ls), v in samples.items() if n == name and set(labels.items()) <= set(ls))


def main():
    base, key = sys.argv[1], sys.argv[2]
    # Longer than the gateway's own wait (the test sets GATEWAY_TIMEOUT_MS=90000):
    # on a busy machine the gateway, not this client, says when it is too late.
    client = openai.OpenAI(base_url=f"{base}/v1", api_key=key, max_retries=0, timeout=120)

    # The key is enforced.
    try:
        openai.OpenAI(base_url=f"{base}/v1", api_key="wrong-key", max_retries=0).models.list()
        check("a wrong API key is refused", False, "request was served")
    except openai.AuthenticationError as error:
        check("a wrong API key is refused", error.status_code == 401)

    # Wait (bounded) until the model node has plant data to answer from.
    import time

    deadline = time.time() + 90
    while True:
        probe = client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "Is the machine running?"}])
        if probe.model_extra["shopfloor"]["error"] != "no_plant_data":
            break
        check("plant data arrives", time.time() < deadline, "still no_plant_data after 90 s")
        time.sleep(1)

    before = metrics(base, key)

    models = [model.id for model in client.models.list()]
    check("models lists the dataflow and its loaded model", MODEL in models and len(models) >= 2, models)

    # Plain.
    completion = client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": QUESTION}], user="alice")
    text = completion.choices[0].message.content
    extension = completion.model_extra["shopfloor"]
    check("plain completion has text", bool(text and text.strip()), completion)
    check("plain completion states a number", re.search(r"\d", text) is not None, text)
    check("extension carries facts and a tier path", extension["facts_used"] and extension["tier_path"], extension)
    check("finish reason is stop", completion.choices[0].finish_reason == "stop", completion)

    # Streaming.
    stream = client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": QUESTION}], stream=True)
    parts, last = [], None
    for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            parts.append(chunk.choices[0].delta.content)
        last = chunk
    check("streamed completion has text", "".join(parts).strip() != "", parts)
    check("last chunk ends the stream with the extension", last.choices[0].finish_reason == "stop" and "shopfloor" in last.model_extra, last)

    # JSON schema: the answer parses and follows the schema.
    completion = client.chat.completions.create(
        model=MODEL,
        messages=[{"role": "user", "content": QUESTION}],
        response_format={"type": "json_schema", "json_schema": {"name": "reading", "schema": READING_SCHEMA}},
    )
    content = completion.choices[0].message.content
    try:
        answer = json.loads(content)
    except json.JSONDecodeError as error:
        check("JSON answer parses", False, f"{error}: {content!r}")
    check(
        "JSON answer follows the schema",
        set(answer) == {"tag", "value", "unit"}
        and isinstance(answer["tag"], str)
        and isinstance(answer["value"], (int, float))
        and isinstance(answer["unit"], str),
        answer,
    )

    # A schema that cannot become a grammar is refused, never answered freely.
    try:
        client.chat.completions.create(
            model=MODEL,
            messages=[{"role": "user", "content": QUESTION}],
            response_format={"type": "json_schema", "json_schema": {"name": "broken", "schema": {"$ref": "#/definitions/nowhere"}}},
        )
        check("a broken schema is refused", False, "it was answered")
    except openai.BadRequestError as error:
        check("a broken schema is refused with 400 invalid_schema", error.status_code == 400 and error.code == "invalid_schema", error)

    # An unknown model is 404.
    try:
        client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": QUESTION}])
        check("an unknown model is refused", False, "it was answered")
    except openai.NotFoundError as error:
        check("an unknown model is refused with 404", error.code == "model_not_found", error)

    # The counters moved with the traffic (snapshots come every second).
    deadline = time.time() + 10
    while True:
        after = metrics(base, key)
        answered = value(after, "shopfloor_answers_total", node="slm") - value(before, "shopfloor_answers_total", node="slm")
        if answered >= 3 or time.time() > deadline:
            break
        time.sleep(0.5)
    check("slm counted the answers", answered >= 3, answered)
    served = value(after, "shopfloor_http_requests_total", route="/v1/chat/completions", status="200")
    check("gateway counted the requests by status", served >= 3 and value(after, "shopfloor_http_requests_total", status="400") >= 1, served)
    check("latency histogram filled", value(after, "shopfloor_answer_latency_seconds_count", node="slm") >= 3)
    check("OPC UA link reported up", value(after, "shopfloor_source_connected", node="opcua-source", link="opcua") == 1)
    check("model memory reported", value(after, "process_resident_memory_bytes", node="slm") > 50e6)
    print("all checks passed")


if __name__ == "__main__":
    main()
