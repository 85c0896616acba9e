"""Sends logs to Strata with the real Datadog Python client (datadog-api-client).

Usage: send_logs.py URL API_KEY. Exits non-zero on any failure.
"""
import sys

from datadog_api_client import ApiClient, Configuration
from datadog_api_client.exceptions import ApiException
from datadog_api_client.v2.api.logs_api import LogsApi
from datadog_api_client.v2.model.content_encoding import ContentEncoding
from datadog_api_client.v2.model.http_log import HTTPLog
from datadog_api_client.v2.model.http_log_item import HTTPLogItem

url, api_key = sys.argv[1], sys.argv[2]
configuration = Configuration(host=url)
configuration.api_key["apiKeyAuth"] = api_key
with ApiClient(configuration) as client:
    api = LogsApi(client)
    body = HTTPLog([
        HTTPLogItem(ddsource="nginx", ddtags="env:prod,version:1", hostname="h1", service="svc",
                    message="python-client-identity", status="error"),
    ])
    print(api.submit_log(body=body, ddtags="team:a"))
    gz = HTTPLog([HTTPLogItem(message="python-client-gzip", service="svc", duration=12)])
    print(api.submit_log(body=gz, content_encoding=ContentEncoding.GZIP))
    df = HTTPLog([HTTPLogItem(message="python-client-deflate", service="svc")])
    print(api.submit_log(body=df, content_encoding=ContentEncoding.DEFLATE))

    bad = Configuration(host=url)
    bad.api_key["apiKeyAuth"] = "0" * 32
    with ApiClient(bad) as bad_client:
        try:
            LogsApi(bad_client).submit_log(body=HTTPLog([HTTPLogItem(message="python-client-forbidden")]))
        except ApiException as error:
            assert error.status == 403, error.status
            print("forbidden as expected")
        else:
            sys.exit("a bad key was accepted")
