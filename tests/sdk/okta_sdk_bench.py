#!/usr/bin/env python3
"""Throughput of the official Okta Python SDK (okta==3.4.6) paging the System Log, for `okta-ingest bench`.

Authenticates with the SDK's private_key_jwt flow, then pages `list_log_events(limit=1000, ...)` along the
`after` cursor of each page's rel="next" Link until an empty page (or --max-events), and counts. Every page
goes through the SDK's pydantic models, as in any SDK-based collector. Prints one JSON line:
{"events", "pages", "seconds", "sdk_version", "error"}; `seconds` covers client creation, the token
request and all paging (not interpreter start or imports). Talks only to the loopback --org-url.

Usage:
  okta_sdk_bench.py --org-url https://127.0.0.1:PORT --client-id ID --private-key key.pem \
      [--kid KID] [--ca-file ca.pem] [--since ISO8601] [--filter EXPR] [--max-events N]
"""

import argparse
import asyncio
import json
import os
import sys
import time
from urllib.parse import urlparse


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--org-url", required=True)
    p.add_argument("--client-id", required=True)
    p.add_argument("--private-key", required=True)
    p.add_argument("--kid")
    p.add_argument("--ca-file")
    p.add_argument("--since")
    p.add_argument("--filter")
    p.add_argument("--max-events", type=int, default=0, help="stop after this many (0: until caught up)")
    return p.parse_args()


async def run(args, out):
    import okta
    from okta.client import Client as OktaClient
    from okta.pagination import PaginationHelper

    out["sdk_version"] = getattr(okta, "__version__", "?")
    with open(args.private_key, encoding="utf-8") as f:
        key = f.read()
    config = {"orgUrl": args.org_url, "authorizationMode": "PrivateKey", "clientId": args.client_id,
              "scopes": ["okta.logs.read"], "privateKey": key, "logging": {"enabled": False}}
    if args.kid:
        config["kid"] = args.kid
    start = time.monotonic()
    async with OktaClient(config) as client:
        after = None
        while True:
            kwargs = {"limit": 1000}
            if args.filter:
                kwargs["filter"] = args.filter
            if after is None:
                if args.since:
                    kwargs["since"] = args.since
            else:
                kwargs["after"] = after
            events, resp, err = await client.list_log_events(**kwargs)
            if err is not None:
                raise RuntimeError(f"list_log_events failed: {err!r}")
            out["pages"] += 1
            if not events:
                break
            out["events"] += len(events)
            if args.max_events and out["events"] >= args.max_events:
                out["stopped_at_max"] = True
                break
            after = PaginationHelper.extract_next_cursor(resp.headers)
            if not after:
                raise RuntimeError("page without a next cursor")
    out["seconds"] = round(time.monotonic() - start, 3)


def main():
    args = parse_args()
    host = urlparse(args.org_url).hostname or ""
    if host not in ("127.0.0.1", "::1", "localhost"):
        raise SystemExit(f"refusing non-loopback org URL {args.org_url!r}")
    if args.ca_file:
        os.environ["SSL_CERT_FILE"] = os.path.abspath(args.ca_file)
    out = {"events": 0, "pages": 0, "seconds": None, "stopped_at_max": False, "error": None}
    try:
        asyncio.run(run(args, out))
    except Exception as e:  # noqa: BLE001 - reported in the JSON
        out["error"] = f"{type(e).__name__}: {e}"[:2000]
    print(json.dumps(out, sort_keys=True), flush=True)
    return 0 if out["error"] is None else 1


if __name__ == "__main__":
    sys.exit(main())
