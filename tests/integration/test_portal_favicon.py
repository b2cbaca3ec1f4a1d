"""Every HTML page MosPay renders names an icon that is served and that the page's CSP lets load: without
one, browsers fetch /favicon.ico and log a 404 on every page."""

from __future__ import annotations

import re

import pytest

from tests.integration.portal_support import site  # noqa: F401  (fixture)

ICON_LINK = re.compile(r'<link rel="icon" href="([^"]+)" type="([^"]+)">')


def csp_allows_same_origin_images(policy: str) -> bool:
    directives = dict((d.strip().split(" ", 1) + [""])[:2] for d in policy.split(";") if d.strip())
    sources = directives.get("img-src", directives.get("default-src", ""))
    return "'self'" in sources.split()


def test_the_csp_check_refuses_a_policy_without_images():
    """A control: the policy /docs had before it named img-src would have blocked the icon."""
    assert not csp_allows_same_origin_images("default-src 'none'; style-src 'self'; base-uri 'none'")
    assert csp_allows_same_origin_images("default-src 'self'; script-src 'self'")
    assert csp_allows_same_origin_images("default-src 'none'; img-src 'self' data:")


@pytest.mark.parametrize("path, signed_in", [("/admin/login", False), ("/admin", True), ("/admin/clients", True),
                                             ("/docs", False)])
def test_page_links_an_icon_that_is_served_and_allowed(site, path, signed_in):  # noqa: F811
    portal = site.portal("iconviewer" if signed_in else None)
    page = portal.get(path)
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    link = ICON_LINK.search(page.text)
    assert link, f"{path} links no icon"
    href, declared_type = link.groups()
    icon = portal.get(href)
    assert icon.status_code == 200
    assert icon.headers["content-type"].split(";")[0] == declared_type == "image/svg+xml"
    assert icon.text.lstrip().startswith("<svg") and 'xmlns="http://www.w3.org/2000/svg"' in icon.text
    assert csp_allows_same_origin_images(page.headers["content-security-policy"]), page.headers
