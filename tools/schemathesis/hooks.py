"""Schemathesis hooks for the AccessAlly Bridge API contract
(`docs/accessally-bridge-api.json`), loaded by `tools/schemathesis/run`.

Every check stays on. This file drops only failures that are not a
disagreement between the contract and the server, each for a reason written
below and each matched narrowly (operation, status, error code, field, and
the server's reason), so anything else still fails the run:

1. Rules the contract states in words because they depend on stored
   records, or compare two values, which OpenAPI 3.0 cannot express: a page
   past the last one, an id in the body that names no record, a payment
   option id of another offering, `date_expires` not after `date_starts`,
   and an update whose merged coupon breaks a create rule. A schema-valid
   request that breaks one is rightly refused with 400, so the
   `positive_data_acceptance` check (ST202) is not failed by exactly those
   answers.
2. WordPress's own routing: a method a route does not have is answered 404
   `rest_no_route`, not 405 (WordPress core does so for every REST route;
   the simulator mimics it), which the `unsupported_method` check (ST204)
   expects.
3. PHP's built-in web server, which `wordpress/dev/up` uses (a development
   server only): it answers a path whose last segment has a dot (`/coupons/0.5`)
   as a missing static file (an HTML 404, or 405 for other methods) and a
   method it does not know (`QUERY`) with an HTML 501, before WordPress
   runs. Behind nginx or Apache those requests reach WordPress.

One hook steers generation: a schema-valid coupon body whose `date_expires`
is not after its `date_starts` gets the two swapped (or `date_expires` null
when they are equal), so that random dates do not make most schema-valid
coupon writes break the rule the contract states in words. Schema-violating
requests are left as generated.
"""

from __future__ import annotations

import json
import os
import re
from datetime import datetime, timezone

import schemathesis

# When set, each dropped failure is appended to this file as one line
# (`reason<TAB>check<TAB>operation<TAB>status`), for the run's summary.
LOG = os.environ.get("ALLYBRIDGE_ST_FILTERED_LOG")

# (operation, field name pattern, reason pattern): 400 `rest_invalid_param`
# answers that are right for a schema-valid request, because the rule needs
# the stored records or compares two fields (the contract says so in words).
NOT_AN_OFFERING = r"[0-9]+ is not an offering id\."
DATES = r"date_expires must be after date_starts\."
MERGED_COUPON = {
    "currency": r"a fixed discount needs a currency\.",
    "amount": r"a percent discount is at most 100\.|`[0-9.]+` has more than [0-9] decimal places",
}
STATE_DEPENDENT: dict[str, dict[str, str]] = {
    "POST /access-grants": {"offering_id": NOT_AN_OFFERING},
    "POST /coupons": {"offering_ids": NOT_AN_OFFERING, "date_expires": DATES},
    "PUT /coupons/{id}": {"offering_ids": NOT_AN_OFFERING, "date_expires": DATES, **MERGED_COUPON},
    "PUT /offerings/{id}": {
        r"payment_options\[[0-9]+\]\.id": r"id is not a payment option of this offering\.",
    },
}
LISTS = {"GET /offerings", "GET /coupons", "GET /orders", "GET /webhooks"}

PHP_SERVER_PAGE = re.compile(rb"^<!doctype html><html><head><title>(404 Not Found|405 Method Not Allowed|501 Not Implemented)</title>")


def _json(response) -> dict:
    try:
        body = json.loads(response.content)
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _state_dependent_refusal(label: str, response) -> str | None:
    """The rule a 400 answer cites, when it is one that needs the records or two fields."""
    if response.status_code != 400:
        return None
    body = _json(response)
    code = body.get("code")
    if code == "rest_invalid_page_number":
        return "page past the last" if label in LISTS else None
    rules = STATE_DEPENDENT.get(label)
    params = (body.get("data") or {}).get("params")
    if code != "rest_invalid_param" or not rules or not isinstance(params, dict) or not params:
        return None
    for field, reason in params.items():
        if not any(
            re.fullmatch(name, field) and isinstance(reason, str) and re.fullmatch(why, reason)
            for name, why in rules.items()
        ):
            return None
    return "rule across records or fields: " + ", ".join(sorted({re.sub(r"\[[0-9]+\]", "[]", f) for f in params}))


def _wordpress_no_route(response) -> bool:
    return response.status_code == 404 and _json(response).get("code") == "rest_no_route"


def _php_builtin_server_page(response) -> bool:
    if not PHP_SERVER_PAGE.match(response.content or b""):
        return False
    request = response.request
    last_segment = (request.path_url or "").split("?")[0].rsplit("/", 1)[-1]
    if response.status_code in (404, 405):
        return "." in last_segment
    # 501: a method PHP's server does not know; only the unsupported-method probe sends one.
    return request.method not in {"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "TRACE"}


def _why_not_a_failure(failure, case, response) -> str | None:
    code = getattr(failure, "code", "")
    if code == "ST202":
        return _state_dependent_refusal(case.operation.label, response)
    if code == "ST204" and _wordpress_no_route(response):
        return "WordPress: unknown method is 404 rest_no_route"
    if _php_builtin_server_page(response):
        return "PHP built-in server page"
    return None


@schemathesis.hook
def filter_failure(context, failure, case, response) -> bool:
    """Keeps every failure except the ones the module docstring lists."""
    if response is None:
        return True
    why = _why_not_a_failure(failure, case, response)
    if why is None:
        return True
    if LOG:
        with open(LOG, "a", encoding="utf-8") as log:
            log.write(f"{why}\t{getattr(failure, 'code', '')}\t{case.operation.label}\t{response.status_code}\n")
    return False


def _moment(value) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value.replace("z", "Z").replace("t", "T"))
    except ValueError:
        return None
    # Without an offset, the contract reads UTC.
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


@schemathesis.hook
def map_case(context, case):
    """Puts a schema-valid coupon's dates in order (see the module docstring)."""
    meta = case.meta
    if meta is None or not meta.generation.mode.is_positive:
        return case
    if case.operation.label not in ("POST /coupons", "PUT /coupons/{id}") or not isinstance(case.body, dict):
        return case
    starts, expires = _moment(case.body.get("date_starts")), _moment(case.body.get("date_expires"))
    try:
        out_of_order = starts is not None and expires is not None and expires <= starts
    except OverflowError:  # a moment near year 1 or 9999 that UTC cannot hold
        out_of_order = False
    if out_of_order:
        body = dict(case.body)
        if expires == starts:
            body["date_expires"] = None
        else:
            body["date_starts"], body["date_expires"] = body["date_expires"], body["date_starts"]
        case.body = body
    return case
