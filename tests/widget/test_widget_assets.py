"""How the server delivers the widget: size budget, caching, compression, the demo page."""

from __future__ import annotations

import gzip
import re

import httpx

from tests.servers import ServerProcess
from tests.widget.conftest import WIDGET_DIR

BUDGET = 21 * 1024  # gzipped bytes: the chat, its forms, campaigns and their rules, CSAT


def test_bundle_fits_the_budget_and_uses_no_html_sinks() -> None:
    source = (WIDGET_DIR / "widget.js").read_bytes()
    size = len(gzip.compress(source, compresslevel=9))
    assert size <= BUDGET, f"widget.js is {size} bytes gzipped, over the {BUDGET} budget"
    text = source.decode()
    for sink in (
        "innerHTML",
        "outerHTML",
        "insertAdjacentHTML",
        "document.write",
        "eval(",
        "new Function",
        "postMessage",
        "style=",
        ".cssText",
        'setAttribute("style',
    ):
        assert sink not in text, sink
    assert re.search(r"attachShadow\(\{ mode: \"open\" \}\)", text)
    assert "adoptedStyleSheets" in text


def test_widget_js_is_cached_and_compressed(chat_server: ServerProcess) -> None:
    with httpx.Client(base_url=chat_server.base_url) as http:
        plain = http.get("/widget.js", headers={"accept-encoding": "identity"})
        assert plain.status_code == 200
        assert plain.headers["content-type"].startswith("text/javascript")
        assert "content-encoding" not in plain.headers
        assert plain.content == (WIDGET_DIR / "widget.js").read_bytes()
        etag = plain.headers["etag"]
        assert re.fullmatch(r'"[0-9a-f]{16}"', etag)
        assert plain.headers["cache-control"] == "public, max-age=300"
        assert plain.headers["cross-origin-resource-policy"] == "cross-origin"

        zipped = http.get("/widget.js", headers={"accept-encoding": "gzip, br"})
        assert zipped.headers["content-encoding"] == "gzip"
        assert int(zipped.headers["content-length"]) <= BUDGET
        assert zipped.content == plain.content  # httpx decoded it
        assert "Accept-Encoding" in zipped.headers["vary"]

        again = http.get("/widget.js", headers={"if-none-match": etag})
        assert again.status_code == 304 and again.content == b""
        assert again.headers["etag"] == etag
        stale = http.get("/widget.js", headers={"if-none-match": '"0000000000000000"'})
        assert stale.status_code == 200

        versioned = http.get(f"/widget.js?v={etag.strip(chr(34))}")
        assert versioned.headers["cache-control"] == "public, max-age=31536000, immutable"
        assert http.head("/widget.js").status_code == 200


def test_demo_page_embeds_the_widget_under_a_strict_csp(chat_server: ServerProcess) -> None:
    with httpx.Client(base_url=chat_server.base_url) as http:
        page = http.get("/demo")
        assert page.status_code == 200
        assert '<script src="/widget.js" data-space="default" async></script>' in page.text
        csp = page.headers["content-security-policy"]
        assert "script-src 'self'" in csp and "style-src 'self'" in csp
        assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
        assert http.get("/demo/site.css").status_code == 200
        assert http.get("/demo", params={"space": '"><script>alert(1)</script>'}).status_code == 404
        assert http.get("/demo", params={"space": "no-such-space"}).status_code == 404


def test_no_other_file_is_reachable(chat_server: ServerProcess) -> None:
    with httpx.Client(base_url=chat_server.base_url) as http:
        for path in (
            "/widget.js/../chat/settings.py",
            "/demo/..%2f..%2fchat%2fsettings.py",
            "/demo/%2e%2e/%2e%2e/pyproject.toml",
            "/demo/site.css%00.py",
            "/demo/index.html",
            "/widget/widget.js",
            "/demo/../widget/__init__.py",
        ):
            r = http.get(httpx.URL(chat_server.base_url).copy_with(raw_path=path.encode()))
            # not found; a NUL in the URL is refused before any route looks at it
            assert r.status_code == (400 if "%00" in path else 404), path
            assert "import" not in r.text and "[project]" not in r.text
