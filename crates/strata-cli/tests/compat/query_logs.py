"""Reads logs back from Strata with the real Datadog Python client
(datadog-api-client): list_logs (POST search), list_logs_get (GET), paging with
the cursor, and aggregate_logs. The client validates response types, so this
checks the response shapes against Datadog's own models.

Usage: query_logs.py URL API_KEY APP_KEY. Exits non-zero on any failure.
"""
import sys
from datetime import datetime, timedelta, timezone

from datadog_api_client import ApiClient, Configuration
from datadog_api_client.exceptions import ApiException
from datadog_api_client.v2.api.logs_api import LogsApi
from datadog_api_client.v2.model.http_log import HTTPLog
from datadog_api_client.v2.model.http_log_item import HTTPLogItem
from datadog_api_client.v2.model.logs_aggregate_request import LogsAggregateRequest
from datadog_api_client.v2.model.logs_aggregation_function import LogsAggregationFunction
from datadog_api_client.v2.model.logs_compute import LogsCompute
from datadog_api_client.v2.model.logs_compute_type import LogsComputeType
from datadog_api_client.v2.model.logs_group_by import LogsGroupBy
from datadog_api_client.v2.model.logs_list_request import LogsListRequest
from datadog_api_client.v2.model.logs_list_request_page import LogsListRequestPage
from datadog_api_client.v2.model.logs_query_filter import LogsQueryFilter
from datadog_api_client.v2.model.logs_sort import LogsSort

url, api_key, app_key = sys.argv[1], sys.argv[2], sys.argv[3]


def after(response):
    """The next-page cursor, or None (the last page has no meta.page)."""
    try:
        return response.meta.page.after
    except Exception:  # ApiAttributeError: no meta or no page
        return None

configuration = Configuration(host=url)
configuration.api_key["apiKeyAuth"] = api_key
configuration.api_key["appKeyAuth"] = app_key
with ApiClient(configuration) as client:
    api = LogsApi(client)
    items = [
        HTTPLogItem(message=f"compat-read {i}", service="compat" if i % 3 else "other",
                    hostname="h1", ddtags="env:compat", duration=i)
        for i in range(12)
    ]
    api.submit_log(body=HTTPLog(items))

    # POST search, newest first, two pages through the cursor.
    request = LogsListRequest(
        filter=LogsQueryFilter(query="compat-read", _from="now-15m", to="now"),
        sort=LogsSort.TIMESTAMP_DESCENDING,
        page=LogsListRequestPage(limit=5),
    )
    first = api.list_logs(body=request)
    assert len(first.data) == 5, first
    assert str(first.meta.status) == "done", first.meta
    log = first.data[0]
    assert str(log.type) == "log", log
    assert log.attributes.timestamp is not None
    assert log.attributes.message.startswith("compat-read"), log
    assert "env:compat" in log.attributes.tags, log.attributes.tags
    seen = [d.attributes.message for d in first.data]
    cursor = after(first)
    assert cursor, first.meta
    while cursor:
        request.page = LogsListRequestPage(limit=5, cursor=cursor)
        page = api.list_logs(body=request)
        seen += [d.attributes.message for d in page.data]
        cursor = after(page)
    assert sorted(seen) == sorted(f"compat-read {i}" for i in range(12)), seen
    assert len(set(seen)) == 12, seen

    # GET list with filters as query parameters.
    # The client formats datetimes as ISO 8601 with microseconds and an offset.
    since = datetime.now(timezone.utc) - timedelta(minutes=15)
    got = api.list_logs_get(filter_query="service:compat", filter_from=since, page_limit=100)
    assert len(got.data) == 8, len(got.data)

    # Aggregate: count and avg by service.
    aggregate = api.aggregate_logs(body=LogsAggregateRequest(
        compute=[
            LogsCompute(aggregation=LogsAggregationFunction.COUNT, type=LogsComputeType.TOTAL),
            LogsCompute(aggregation=LogsAggregationFunction.AVG, metric="@duration"),
        ],
        filter=LogsQueryFilter(query="compat-read", _from="now-15m", to="now"),
        group_by=[LogsGroupBy(facet="service")],
    ))
    buckets = {b.by["service"]: b.computes for b in aggregate.data.buckets}
    assert buckets["compat"]["c0"] == 8, buckets
    assert buckets["other"]["c0"] == 4, buckets
    assert abs(buckets["other"]["c1"] - 4.5) < 1e-9, buckets

    # A syntax error is a 400 the client surfaces.
    try:
        api.list_logs(body=LogsListRequest(filter=LogsQueryFilter(query="service:(a OR")))
    except ApiException as error:
        assert error.status == 400, error.status
        print("syntax error as expected")
    else:
        sys.exit("a bad query was accepted")
print("ok")
