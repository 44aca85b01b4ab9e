"""The operators' console through the real admin of a running Daphne: connections, rules, cache, keys."""

from __future__ import annotations

import asyncio
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.admin import close_from_admin, connection_rows, logged_in, post_form
from tests.support.origin import CRAWL_CN_GUIDE, CRAWL_HOSTILE_GUIDE, CRAWL_SMALL_GUIDE, OriginServer
from tests.support.processes import DaphneServer, daphne
from tests.support.raw import ACCEPT_BOTH, LegacySse, initialize_request, request, streamable_session

RDS_URL = "https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/Welcome.html"
RDS_PATH = "/AmazonRDS/latest/UserGuide/Welcome.html"
AWS, CN = "https://docs.aws.amazon.com", "https://docs.amazonaws.cn"


@pytest.fixture(scope="module")
def server(origin: OriginServer) -> Iterator[DaphneServer]:
    db = Path(tempfile.mkdtemp(prefix="awsmcp-ops-")) / "db.sqlite3"
    with daphne(
        db_path=db,
        **origin.settings_env(),
        MCP_RATELIMIT_ENABLED="true",
        OPS_ACTIVITY_FLUSH="0.5",
        DOCS_STATS_FLUSH="0.5",
        DOCS_INDEX_ADMIN_GUIDES="2",
        DOCS_CRAWL_PACE="0",
    ) as srv:
        yield srv


async def test_a_live_session_is_listed_and_closed_from_admin(server: DaphneServer) -> None:
    admin = await logged_in(server)
    async with httpx.AsyncClient(timeout=15) as http, LegacySse(http, server.sse_url) as sse:
        await sse.initialize()
        session_id = sse.post_url.rsplit("=", 1)[1]
        await asyncio.sleep(1.0)  # an activity flush
        listing = await admin.get("/admin/ops/connection/?state__exact=active")
        assert session_id[:12] in listing.text
        assert "raw-test" in listing.text  # the client name from initialize
        rows = connection_rows(listing.text, [session_id])
        primary_key = rows[0] if rows else re.findall(r'name="_selected_action" value="(\d+)"', listing.text)[0]
        closed = await close_from_admin(admin, [primary_key])
        assert "Asked 1 session(s) to close" in closed.text
        await sse.until_closed(5)  # the client's stream ends
    await asyncio.sleep(1.0)
    history = await admin.get("/admin/ops/connection/?state__exact=closed")
    assert session_id[:12] in history.text
    await admin.aclose()


async def test_a_rate_rule_edited_in_admin_takes_effect(server: DaphneServer) -> None:
    admin = await logged_in(server)
    listing = await admin.get("/admin/ops/ratelimitrule/")
    pk = re.search(r'href="/admin/ops/ratelimitrule/(\d+)/change/[^"]*">per-ip<', listing.text).group(1)
    saved = await post_form(
        admin,
        f"/admin/ops/ratelimitrule/{pk}/change/",
        {"name": "per-ip", "scope": "ip", "endpoint": "*", "rate": "5/m", "enabled": "on", "allowlist": ""},
    )
    assert saved.status_code == 200 and "was changed successfully" in saved.text
    statuses = []
    async with httpx.AsyncClient(timeout=10) as http:
        for _ in range(6):
            reply = await http.post(server.mcp_url, json=initialize_request(), headers={"accept": ACCEPT_BOTH})
            statuses.append(reply.status_code)
        assert statuses[:5] == [200] * 5 and statuses[5] == 429, statuses
        assert int(reply.headers["retry-after"]) > 0
        assert reply.json()["error"]["message"].startswith("Too Many Requests")
        bad = await post_form(
            admin,
            f"/admin/ops/ratelimitrule/{pk}/change/",
            {"name": "per-ip", "scope": "ip", "endpoint": "*", "rate": "lots", "enabled": "on", "allowlist": ""},
        )
        assert "is not a rate" in bad.text
        await post_form(
            admin,
            f"/admin/ops/ratelimitrule/{pk}/change/",
            {
                "name": "per-ip",
                "scope": "ip",
                "endpoint": "*",
                "rate": "1000/h",
                "enabled": "on",
                "allowlist": "127.0.0.1",
            },
        )
        again = await http.post(server.mcp_url, json=initialize_request(), headers={"accept": ACCEPT_BOTH})
        assert again.status_code == 200  # the allowlist bypasses the rule
    await admin.aclose()


async def test_purge_from_the_cache_page_sends_the_next_read_to_the_origin(
    server: DaphneServer, origin: OriginServer
) -> None:
    from tests.docs_proxy.test_cache import read

    admin = await logged_in(server)
    await read(server, RDS_PATH)
    await read(server, RDS_PATH)
    before = origin.hits(RDS_PATH)
    await asyncio.sleep(1.0)
    page = await admin.get("/admin/cache/")
    assert page.status_code == 200 and "Docs cache" in page.text and 'id="cache-chart"' in page.text
    assert RDS_URL in page.text  # among the most read pages
    done = await post_form(admin, "/admin/cache/", {"what": "url", "target": RDS_URL})
    report = re.search(r'id="purge-report">([^<]*)<', done.text)
    assert report and "removed 1 shared (L2) entries" in report.group(1), (
        report.group(1) if report else done.text[-2000:]
    )
    await read(server, RDS_PATH)
    assert origin.hits(RDS_PATH) - before == 1
    refused = await post_form(admin, "/admin/cache/", {"what": "url", "target": "https://evil.example/x.html"})
    assert "Not a documentation page URL" in refused.text
    await admin.aclose()


def index_table(html: str, table: str) -> list[list[str]]:
    """The cells of a table of the cache page's search index section, row by row (tags removed)."""
    body = re.search(rf'<table id="{table}">.*?<tbody>(.*?)</tbody>', html, re.S)
    assert body, html[-3000:]
    rows = re.findall(r"<tr[^>]*>(.*?)</tr>", body.group(1), re.S)
    return [
        [re.sub(r"<[^>]+>", "", cell).strip() for cell in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)] for row in rows
    ]


async def test_the_cache_page_shows_the_search_index_per_partition_and_guide(
    server: DaphneServer, origin: OriginServer
) -> None:
    crawled = await asyncio.to_thread(
        server.manage,
        *("index_docs", "--guide", AWS + CRAWL_SMALL_GUIDE, "--guide", AWS + CRAWL_HOSTILE_GUIDE),
        *("--guide", CN + CRAWL_CN_GUIDE),
    )
    assert crawled.returncode == 0, crawled.stdout + crawled.stderr
    admin = await logged_in(server)
    page = (await admin.get("/admin/cache/")).text
    partitions = dict((row[0], int(row[1])) for row in index_table(page, "index-partitions"))
    assert partitions["aws-cn"] == 3 and partitions["aws"] >= 7  # the read path may have indexed pages too
    guides = index_table(page, "index-guides")
    shown, more = guides[:-1], guides[-1]
    assert len(shown) == 2  # DOCS_INDEX_ADMIN_GUIDES, largest first
    assert [CN + CRAWL_CN_GUIDE, "aws-cn", "3"] in shown
    hidden = re.fullmatch(r"and (\d+) more guide\(s\), (\d+) page\(s\)", more[0])
    assert hidden and int(hidden.group(1)) >= 2, more  # small-guide/ and small-guide/topics/ at least
    assert sum(int(row[2]) for row in shown) + int(hidden.group(2)) == sum(partitions.values())
    total = re.search(r'id="index-total">(\d+) page\(s\) indexed of at most 100000', page)
    assert total and int(total.group(1)) == sum(partitions.values())

    done = await post_form(admin, "/admin/cache/", {"what": "prefix", "target": AWS + CRAWL_HOSTILE_GUIDE})
    report = re.search(r'id="purge-report">([^<]*)<', done.text)
    assert report and "and 3 page(s) from the search index" in report.group(1), done.text[-2000:]
    after = dict((row[0], int(row[1])) for row in index_table(done.text, "index-partitions"))
    assert after["aws"] == partitions["aws"] - 3 and after["aws-cn"] == 3
    await admin.aclose()


async def test_admin_needs_staff(server: DaphneServer) -> None:
    async with httpx.AsyncClient(base_url=server.base, timeout=10) as anonymous:
        for path in ("/admin/ops/connection/", "/admin/cache/", "/admin/ops/apikey/"):
            reply = await anonymous.get(path)
            assert reply.status_code == 302 and "/admin/login/" in reply.headers["location"]


async def test_health_and_metrics(server: DaphneServer) -> None:
    from tests.docs_proxy.test_cache import read

    await read(server, RDS_PATH)
    async with httpx.AsyncClient(base_url=server.base, timeout=10) as http:
        # Names a client makes up must not become metric labels (unbounded series).
        headers = await streamable_session(http, server.mcp_url)
        await http.post(server.mcp_url, json=request("made/up-method-x9", {}, 2), headers=headers)
        await http.post(server.mcp_url, json=request("tools/call", {"name": "made-up-tool-x9"}, 3), headers=headers)
        assert (await http.get("/healthz")).json() == {"status": "ok"}
        ready = await http.get("/readyz")
        assert ready.status_code == 200 and ready.json()["checks"] == {
            "database": "ok",
            "cache": "ok",
            "channel_layer": "ok",
        }
        await asyncio.sleep(1.0)
        metrics = (await http.get("/metrics")).text
    assert 'awsmcp_http_requests_total{method="POST",status="200",transport="streamable-http"}' in metrics
    assert re.search(r'awsmcp_tool_call_seconds_count\{tool="read_documentation"\} [1-9]', metrics)
    assert 'awsmcp_docs_cache_events_total{event="origin_fetches"}' in metrics
    assert "awsmcp_open_connections" in metrics
    assert "x9" not in metrics
    assert 'method="unknown"' in metrics and 'tool="unknown"' in metrics


@pytest.fixture(scope="module")
def locked(origin: OriginServer) -> Iterator[DaphneServer]:
    with daphne(**origin.settings_env(), MCP_AUTH_REQUIRED="true", OPS_ACTIVITY_FLUSH="0.5") as srv:
        yield srv


async def test_api_keys_guard_every_entrance(locked: DaphneServer) -> None:
    created = locked.manage("create_api_key", "ci-agent")
    assert created.returncode == 0, created.stderr
    token = created.stdout.strip()
    assert token.startswith("amcp_") and len(token) > 40
    assert locked.manage("create_api_key", "ci-agent").returncode != 0  # names are unique
    async with httpx.AsyncClient(timeout=10) as http:
        missing = await http.post(locked.mcp_url, json=initialize_request(), headers={"accept": ACCEPT_BOTH})
        assert missing.status_code == 401 and missing.headers["www-authenticate"].startswith("Bearer")
        wrong = await http.post(
            locked.mcp_url,
            json=initialize_request(),
            headers={"accept": ACCEPT_BOTH, "authorization": f"Bearer {token[:-4]}XXXX"},
        )
        assert wrong.status_code == 401
        good = await http.post(
            locked.mcp_url,
            json=initialize_request(),
            headers={"accept": ACCEPT_BOTH, "authorization": f"Bearer {token}"},
        )
        assert good.status_code == 200
        sse = await http.get(locked.sse_url)
        assert sse.status_code == 401
        other = locked.manage("create_api_key", "other-agent").stdout.strip()
        await asyncio.sleep(1.5)  # every process reloads keys within OPS_RULES_POLL (1 s)
        session = good.headers["mcp-session-id"]
        stolen = await http.post(
            locked.mcp_url,
            json={"jsonrpc": "2.0", "id": 2, "method": "tools/list"},
            headers={"accept": ACCEPT_BOTH, "authorization": f"Bearer {other}", "mcp-session-id": session},
        )
        assert stolen.status_code == 404  # a session belongs to the key that opened it
    await asyncio.sleep(1.5)  # a batch of activity
    used = locked.manage(
        "shell", "-c", "from ops.models import ApiKey; print(ApiKey.objects.get(name='ci-agent').last_used)"
    )
    assert used.stdout.strip() not in ("", "None"), used.stdout + used.stderr


async def test_admin_security_headers(server: DaphneServer) -> None:
    async with httpx.AsyncClient(base_url=server.base, timeout=10) as http:
        page = await http.get("/admin/login/")
    assert page.headers["x-frame-options"] == "DENY"
    assert page.headers["x-content-type-options"] == "nosniff"
    assert page.headers["referrer-policy"] == "same-origin"
    csp = page.headers["content-security-policy"]
    assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp
    cookie = page.headers["set-cookie"].lower()
    assert "csrftoken=" in cookie and "samesite=lax" in cookie


async def test_the_cache_page_and_the_dry_run_agree_on_sqlite(server: DaphneServer) -> None:
    from tests.ops.test_cache_figures import assert_figures_agree_with_the_dry_run

    await assert_figures_agree_with_the_dry_run(server)
