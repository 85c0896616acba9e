"""Ships documents to Strata with the real, unmodified `elasticsearch` 8.x
Python client: `info`, `ping`, `bulk` with index/create/delete/update items,
`helpers.bulk` of 500 documents, `index`/`create` of single documents, gzip
bodies (`http_compress=True`), API-key (raw and id:key) and basic auth.

Usage: elasticsearch_bulk.py URL API_KEY. Prints one JSON object on its last
line (what the server answered); exits non-zero on any unexpected answer.
"""
import json
import sys
import time

from elasticsearch import (
    AuthenticationException,
    BadRequestError,
    Elasticsearch,
    helpers,
)

url, api_key = sys.argv[1], sys.argv[2]
out = {}


def check(condition, what):
    if not condition:
        sys.exit(f"unexpected answer: {what}")


# A raw Strata key as the ApiKey credential.
es = Elasticsearch(url, api_key=api_key, request_timeout=30)
info = es.info()
out["info"] = info.body
check(info["tagline"] == "You Know, for Search", info)
check(es.ping(), "ping")

# The client's own id:key form: base64("compat-id:<key>").
es_pair = Elasticsearch(url, api_key=("compat-id", api_key), request_timeout=30)
check(es_pair.info()["version"]["number"].startswith("8."), "info with id:key")

# A bad key is a 401.
try:
    Elasticsearch(url, api_key="0" * 32, request_timeout=30).info()
    sys.exit("a bad key was accepted")
except AuthenticationException as error:
    out["bad_key_status"] = error.meta.status

now_ms = int(time.time() * 1000)
operations = [
    {"index": {"_index": "es-compat", "_id": "doc-1"}},
    {
        "@timestamp": now_ms - 60_000,
        "message": "es-nested",
        "log": {"level": "warn", "logger": "app.main"},
        "host": {"name": "es-host-1", "ip": "10.1.2.3"},
        "service": {"name": "es-svc"},
        "trace": {"id": "trace-abc"},
        "http": {"response": {"status_code": 503}},
        "labels": ["x", "y"],
    },
    {"create": {"_index": "es-compat"}},
    {
        "@timestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now_ms / 1000 - 120)),
        "message": "es-dotted",
        "log.level": "ERROR",
        "host.name": "es-host-2",
        "service.name": "es-svc",
        "user.id": 42,
        "event.dataset": "compat.dotted",
    },
    {"delete": {"_index": "es-compat", "_id": "doc-1"}},
    {"update": {"_index": "es-compat", "_id": "doc-1"}},
    {"doc": {"message": "changed"}},
    # Index names are lowercase: this item fails alone.
    {"index": {"_index": "Not-Lowercase"}},
    {"message": "es-refused"},
    {"index": {"_index": "es-compat"}},
    {"message": "es-plain", "host": "es-host-3", "level": "debug"},
]
reply = es.bulk(operations=operations)
out["bulk"] = reply.body
check(reply["errors"] is True, reply)
check(
    [next(iter(i.values()))["status"] for i in reply["items"]]
    == [201, 201, 400, 400, 400, 201],
    reply,
)

# helpers.bulk: 500 documents in one chunk; raises on any item error.
actions = (
    {
        "_index": "es-helper",
        "_source": {"message": f"helper-{n}", "seq": n, "log": {"level": "info"}},
    }
    for n in range(500)
)
stored, errors = helpers.bulk(es, actions, chunk_size=500)
out["helper"] = {"stored": stored, "errors": errors}
check(stored == 500 and errors == [], out["helper"])

# gzip bodies and basic auth (any user, the API key as password).
es_gzip = Elasticsearch(
    url, basic_auth=("elastic", api_key), http_compress=True, request_timeout=30
)
gz = es_gzip.bulk(
    index="es-gzip",
    operations=[
        {"index": {}},
        {"message": "es-gzip-1", "service.name": "gz"},
        {"create": {}},
        {"message": "es-gzip-2", "service.name": "gz"},
    ],
)
out["gzip"] = gz.body
check(gz["errors"] is False and len(gz["items"]) == 2, gz)

# Single documents: POST /{index}/_doc, PUT /{index}/_doc/{id}, PUT /{index}/_create/{id}.
single = es.index(index="es-single", document={"message": "es-single-auto", "log.level": "warning"})
with_id = es.index(index="es-single", id="given-1", document={"message": "es-single-id"})
created = es.create(index="es-single", id="given-2", document={"message": "es-single-create"})
out["single"] = [single.body, with_id.body, created.body]
check(all(r["result"] == "created" for r in out["single"]), out["single"])
try:
    es.index(index="Bad-Index", document={"message": "x"})
    sys.exit("an invalid index name was accepted")
except BadRequestError as error:
    out["bad_index"] = {"status": error.meta.status, "type": error.error}

print(json.dumps(out))
