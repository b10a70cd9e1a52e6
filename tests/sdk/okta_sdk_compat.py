#!/usr/bin/env python3
"""Emulator fidelity check with the official Okta Python SDK (okta==3.4.6).

Authenticates with the SDK's own private_key_jwt flow (authorizationMode "PrivateKey"), then
pages through the whole System Log with `list_log_events(limit=1000)`, following the `after`
cursor of each page's `rel="next"` Link, until a page comes back empty (Okta's guidance for
polling queries, whose next link is always present). Every page is parsed by the SDK's strict
pydantic models (`List[LogEvent]`); a model that fails to parse raises and fails the run.

Then checks that the emulator's error bodies come out of the SDK as OktaAPIErrors with the
right status and code (a `since` beyond 180 days: 400 E0000053; an unknown client id at the
token endpoint: 401 invalid_client).

With --dpop the SDK runs in its DPoP mode (`dpopEnabled`, RFC 9449, for an app that requires
DPoP): it sends a proof with the token request, answers the `use_dpop_nonce` challenge with a new
assertion and proof, and calls the System Log with `Authorization: DPoP` and a fresh proof per
request. The run then also fails unless the SDK ended up holding a DPoP token (`token_type`).

Prints one line of JSON and exits 0 only when the SDK parsed exactly --expected events, each
uuid once, and nothing raised. Talks to nothing but --org-url (the loopback emulator).

Usage:
  okta_sdk_compat.py --org-url https://127.0.0.1:PORT --client-id ID --private-key key.pem \
      --expected N [--ca-file ca.pem] [--kid KID] [--since ISO8601] [--dpop]
"""

import argparse
import asyncio
import json
import os
import re
import sys
import time
import traceback
from urllib.parse import parse_qs, urlparse

LINK_RE = re.compile(r'<([^>]*)>\s*;\s*rel="?([^";]+)"?')


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--org-url", required=True, help="https://127.0.0.1:PORT")
    p.add_argument("--client-id", required=True)
    p.add_argument("--private-key", required=True, help="PEM file of the client's private key")
    p.add_argument("--expected", required=True, type=int, help="events the emulator committed")
    p.add_argument("--ca-file", help="CA PEM to trust (else SSL_CERT_FILE must already be set)")
    p.add_argument("--kid", help="key id to put in the client assertion header")
    p.add_argument("--since", default=None,
                   help="ISO 8601 lower bound (default: 179 days ago, inside Okta's 180-day limit)")
    p.add_argument("--skip-error-checks", action="store_true",
                   help="only page through the events (no since-too-old / unknown-client checks)")
    p.add_argument("--max-pages", type=int, default=10_000, help="safety bound on requests")
    p.add_argument("--dpop", action="store_true",
                   help="use the SDK's DPoP mode (dpopEnabled) and require a DPoP-bound token")
    return p.parse_args()


def links_of(headers):
    """rel -> URL from the Link header(s), whether separate (a multidict) or comma-joined."""
    if hasattr(headers, "getall"):
        values = headers.getall("link", [])
    else:
        values = [v for k, v in (headers or {}).items() if k.lower() == "link"]
    out = {}
    for value in values:
        for url, rel in LINK_RE.findall(value or ""):
            out[rel] = url
    return out


def loopback_only(org_url):
    host = urlparse(org_url).hostname or ""
    if host not in ("127.0.0.1", "::1", "localhost") and not host.startswith("127."):
        raise SystemExit(f"refusing non-loopback org URL {org_url!r}: this check only talks to the emulator")


async def run(args, summary):
    # aiohttp (and so the SDK) builds its default SSL context from SSL_CERT_FILE at import time.
    import okta
    from okta.client import Client as OktaClient
    from okta.models import LogEvent
    from okta.pagination import PaginationHelper

    summary["sdk_version"] = getattr(okta, "__version__", "?")
    with open(args.private_key, encoding="utf-8") as f:
        private_key = f.read()
    config = {
        "orgUrl": args.org_url,
        "authorizationMode": "PrivateKey",
        "clientId": args.client_id,
        "scopes": ["okta.logs.read"],
        "privateKey": private_key,
        "logging": {"enabled": False},
    }
    if args.kid:
        config["kid"] = args.kid
    if args.dpop:
        config["dpopEnabled"] = True
    since = args.since or time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(time.time() - 179 * 86400))

    seen = set()
    async with OktaClient(config) as client:
        after = None
        for _ in range(args.max_pages):
            kwargs = {"limit": 1000}
            if after is None:
                kwargs["since"] = since
            else:
                kwargs["after"] = after
            # Raises (pydantic ValidationError) if any event does not fit the SDK's models.
            events, resp, err = await client.list_log_events(**kwargs)
            summary["requests"] += 1
            if err is not None:
                raise RuntimeError(f"list_log_events({kwargs}) failed: {err!r}")
            if resp is None or resp.status_code != 200:
                raise RuntimeError(f"unexpected response {getattr(resp, 'status_code', None)}")
            if not isinstance(events, list) or not all(isinstance(e, LogEvent) for e in events):
                raise RuntimeError(f"SDK returned {type(events).__name__}, not List[LogEvent]")
            summary["pages"] += 1
            if not events:
                break
            for e in events:
                if not e.uuid or not e.event_type or e.published is None:
                    raise RuntimeError(f"event without uuid/eventType/published: {e.to_json()[:300]}")
                if e.uuid in seen:
                    summary["duplicates"] += 1
                seen.add(e.uuid)
            summary["events"] += len(events)
            # The SDK's own cursor helper, on the headers as the SDK hands them out (a dict:
            # separate Link headers collapse to the last one, so `next` must come after `self`).
            cursor = PaginationHelper.extract_next_cursor(resp.headers)
            rels = links_of(resp.headers)
            if not cursor or "next" not in rels:
                raise RuntimeError(f"page of {len(events)} events without a usable rel=\"next\" Link: {resp.headers}")
            nxt = urlparse(rels["next"])
            org = urlparse(args.org_url)
            if (nxt.scheme, nxt.netloc) != (org.scheme, org.netloc):
                raise RuntimeError(f"next link {rels['next']!r} is not on the org URL {args.org_url!r}")
            if parse_qs(nxt.query).get("after", [None])[0] != cursor:
                raise RuntimeError(f"PaginationHelper cursor {cursor!r} differs from the next link {rels['next']!r}")
            after = cursor
        else:
            raise RuntimeError(f"still getting events after {args.max_pages} requests")
        if args.dpop:
            summary["token_type"] = token_type_of(client)
            if summary["token_type"] != "DPoP":
                raise RuntimeError(f"DPoP mode, but the SDK holds a {summary['token_type']!r} token")
    summary["unique_uuids"] = len(seen)
    if not args.skip_error_checks:
        await error_checks(OktaClient, config, summary)


def token_type_of(client):
    """The type of the token the SDK's OAuth helper holds ("DPoP" or "Bearer"). The SDK has no
    public accessor on the client for it, only on its request executor's OAuth object."""
    oauth = getattr(client.get_request_executor(), "_oauth", None)
    if oauth is None or not hasattr(oauth, "get_current_token"):
        return None
    return oauth.get_current_token()[1]


async def error_checks(OktaClient, config, summary):
    """The emulator's error bodies must come out of the SDK as proper OktaAPIErrors."""
    from okta.errors.okta_api_error import OktaAPIError

    def expect(err, status, code, what):
        if not isinstance(err, OktaAPIError):
            raise RuntimeError(f"{what}: expected an OktaAPIError, got {err!r}")
        if (err.status, err.error_code) != (status, code):
            raise RuntimeError(f"{what}: got {err.status} {err.error_code} ({err.error_summary!r}), "
                               f"expected {status} {code}")
        summary["error_checks"].append(f"{what}: {status} {code}")

    # A `since` beyond Okta's 180-day limit: 400 E0000053 in the Management-API error shape.
    async with OktaClient(config) as client:
        old = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(time.time() - 200 * 86400))
        events, _resp, err = await client.list_log_events(since=old, limit=1)
        summary["requests"] += 1
        if events is not None:
            raise RuntimeError("a since 200 days back was accepted")
        expect(err, 400, "E0000053", "since too old")
        if not err.error_id or not err.error_causes:
            raise RuntimeError(f"E0000053 without errorId/errorCauses: {err.__dict__}")
    # An unknown client id: the token endpoint's other body shape (errorCode/errorSummary).
    async with OktaClient({**config, "clientId": "0oaUnknownSdkCheck"}) as client:
        events, _resp, err = await client.list_log_events(limit=1)
        summary["requests"] += 1
        if events is not None:
            raise RuntimeError("an unknown client got a token")
        expect(err, 401, "invalid_client", "unknown client")


def main():
    args = parse_args()
    loopback_only(args.org_url)
    if args.ca_file:
        os.environ["SSL_CERT_FILE"] = os.path.abspath(args.ca_file)
        os.environ["REQUESTS_CA_BUNDLE"] = os.path.abspath(args.ca_file)
    summary = {"ok": False, "expected": args.expected, "events": 0, "unique_uuids": 0, "duplicates": 0,
               "pages": 0, "requests": 0, "error_checks": [], "seconds": 0.0, "error": None}
    start = time.monotonic()
    try:
        asyncio.run(run(args, summary))
    except BaseException as e:  # noqa: BLE001 - any failure is reported in the summary
        if isinstance(e, KeyboardInterrupt):
            raise
        summary["error"] = f"{type(e).__name__}: {e}"[:4000]
        traceback.print_exc(file=sys.stderr)
    summary["seconds"] = round(time.monotonic() - start, 3)
    summary["ok"] = (summary["error"] is None and summary["events"] == args.expected
                     and summary["unique_uuids"] == args.expected and summary["duplicates"] == 0)
    if summary["error"] is None and not summary["ok"]:
        summary["error"] = (f"parsed {summary['events']} events ({summary['unique_uuids']} unique uuids), "
                            f"expected {args.expected}")
    print(json.dumps(summary, sort_keys=True), flush=True)
    return 0 if summary["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
