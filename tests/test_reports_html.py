"""The HTML page of `mailstack dmarc report`, rendered by a real headless Chromium: the DOM it
builds shows the figures and one bar per day in each chart, hostile strings stay text, and
a screenshot is kept in .cache/reports/dmarc-report.png.

Chromium comes from Debian's packages (`bash tests/setup-browser.sh` installs it as root);
without it the test fails under CI and is skipped elsewhere.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path

import pytest

from mailstack.reports import html
from mailstack.reports.intake import Intake
from mailstack.reports.sources import Payload
from mailstack.reports.summary import Summary, summarise
from tests.conftest import ROOT
from tests.test_reports_samples import Row, aggregate_xml, day, tls_json
from tests.test_reports_summary import read, write_reports

SCREENSHOT = ROOT / ".cache" / "reports" / "dmarc-report.png"
VOID = {"meta", "br", "link", "img", "input", "hr", "area", "base", "col", "source", "wbr"}
HOSTILE_ORG = '<script>alert("org")</script><img src=x onerror=alert(1)>'


@dataclass
class Node:
    tag: str
    attrs: dict[str, str]
    children: list[Node] = field(default_factory=list)
    text: str = ""

    def walk(self) -> Iterator[Node]:
        yield self
        for child in self.children:
            yield from child.walk()

    def all_text(self) -> str:
        return self.text + "".join(c.all_text() for c in self.children)

    def find(self, tag: str, **attrs: str) -> list[Node]:
        return [
            n
            for n in self.walk()
            if n.tag == tag and all(n.attrs.get(k) == v for k, v in attrs.items())
        ]

    def by_id(self, ident: str) -> Node:
        [node] = [n for n in self.walk() if n.attrs.get("id") == ident]
        return node

    @property
    def classes(self) -> set[str]:
        return set(self.attrs.get("class", "").split())


class TreeBuilder(HTMLParser):
    """The DOM as Chromium serialised it, as a tree of nodes."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Node("#document", {})
        self.stack = [self.root]

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        node = Node(tag, {k: v or "" for k, v in attrs})
        self.stack[-1].children.append(node)
        if tag not in VOID:
            self.stack.append(node)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.stack[-1].children.append(Node(tag, {k: v or "" for k, v in attrs}))

    def handle_endtag(self, tag: str) -> None:
        for i in range(len(self.stack) - 1, 0, -1):
            if self.stack[i].tag == tag:
                del self.stack[i:]
                return

    def handle_data(self, data: str) -> None:
        self.stack[-1].children.append(Node("#text", {}, text=data))


def parse_dom(text: str) -> Node:
    builder = TreeBuilder()
    builder.feed(text)
    builder.close()
    return builder.root


def chromium() -> str:
    path = shutil.which("chromium")
    if path:
        return path
    if os.environ.get("CI"):
        pytest.fail("chromium is missing: tests/setup-browser.sh installs it (root on Debian)")
    pytest.skip("chromium is not installed: run `bash tests/setup-browser.sh` as root")


def run_chromium(page: Path, profile: Path, *args: str) -> subprocess.CompletedProcess[str]:
    command = [
        chromium(),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={profile}",
        *args,
        page.as_uri(),
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=180, check=False)
    assert result.returncode == 0, result.stderr
    return result


def hostile_summary(folder: Path) -> Summary:
    """The four receivers' reports, one TLS report, and one report from a hostile sender."""
    intake = read(write_reports(folder))
    evil = aggregate_xml(
        HOSTILE_ORG, "<b>id</b>", day(3), [Row("192.0.2.99", 1, dkim="fail", spf="fail")]
    )
    intake.extend(
        [Payload("evil.xml", evil), Payload("tls.json", tls_json()), Payload("x", b"<html/>")]
    )
    assert [r.label for r in intake.refused] == ["x"]
    return summarise(intake)


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Node]:
    folder = tmp_path_factory.mktemp("html")
    page = folder / "dmarc-report.html"
    page.write_text(html.page(hostile_summary(folder / "reports")), encoding="utf-8")
    dom = run_chromium(page, folder / "profile", "--dump-dom").stdout
    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    SCREENSHOT.unlink(missing_ok=True)
    run_chromium(page, folder / "profile", f"--screenshot={SCREENSHOT}", "--window-size=1280,2000")
    return page.read_text(), parse_dom(dom)


def tile(dom: Node, ident: str) -> str:
    [value] = [n for n in dom.by_id(f"tile-{ident}").walk() if "value" in n.classes]
    return value.all_text()


def test_the_tiles_show_the_headline_figures(rendered: tuple[str, Node]) -> None:
    _, dom = rendered
    # The four receivers' 251 messages and the hostile report's one, which fails DMARC.
    assert tile(dom, "messages") == "252"
    assert tile(dom, "compliant") == "92.9%"  # 234 of 252
    assert tile(dom, "reports") == "5"
    assert tile(dom, "disposition-quarantine") == "12"
    assert tile(dom, "tls-failed") == "4"
    assert "warn" in dom.by_id("tile-compliant").classes


def test_each_chart_has_one_bar_per_day(rendered: tuple[str, Node]) -> None:
    _, dom = rendered
    [messages] = dom.find("svg", **{"data-chart": "messages"})
    [compliance] = dom.find("svg", **{"data-chart": "compliance"})
    bars = [n for n in messages.walk() if n.tag == "rect" and "bar" in n.classes]
    assert [b.find("title")[0].all_text() for b in bars] == [
        "2025-03-01: 133 messages",
        "2025-03-02: 108 messages",
        "2025-03-03: 11 messages",
    ]
    # The y axis goes to 200: 133 messages make a bar of 133/200 of the plot's height.
    heights = [float(b.attrs["height"]) for b in bars]
    plot = html.HEIGHT - html.TOP - html.BOTTOM
    assert heights == [round(plot * n / 200, 1) for n in (133, 108, 11)]
    bars = [n for n in compliance.walk() if n.tag == "rect" and "bar" in n.classes]
    assert [(sorted(b.classes), b.find("title")[0].all_text()) for b in bars] == [
        (["bar", "warn"], "2025-03-01: 96.2% DMARC pass (128 of 133)"),
        (["bad", "bar"], "2025-03-02: 88.9% DMARC pass (96 of 108)"),
        (["bar", "warn"], "2025-03-03: 90.9% DMARC pass (10 of 11)"),
    ]


def test_the_tables(rendered: tuple[str, Node]) -> None:
    _, dom = rendered
    sources = dom.by_id("sources").find("tbody")[0].find("tr")
    assert len(sources) == 7
    assert sources[0].find("td")[0].all_text() == "192.0.2.10"
    failures = dom.by_id("failures").find("tbody")[0].find("tr")
    assert len(failures) == 6
    assert "forwarded (SPF breaks on forwarding, DKIM survived)" in dom.by_id("failures").all_text()
    tls = dom.by_id("tls").find("tbody")[0].find("tr")
    assert [td.all_text() for td in tls[0].find("td")] == [
        "example.test",
        "sts",
        "1",
        "5326",
        "4",
        "certificate-expired 3, starttls-not-supported 1",
    ]


def test_hostile_strings_stay_text(rendered: tuple[str, Node]) -> None:
    _, dom = rendered
    assert dom.find("script") == []
    assert dom.find("img") == []
    assert not [n for n in dom.walk() if any(a.startswith("on") for a in n.attrs)]
    assert HOSTILE_ORG in dom.find("header")[0].all_text()


def test_the_page_needs_nothing_from_outside(rendered: tuple[str, Node]) -> None:
    source, _ = rendered
    page = parse_dom(source)
    assert not [n for n in page.walk() if n.tag in {"script", "link", "img", "iframe", "object"}]
    assert not [n for n in page.walk() if {"src", "href"} & set(n.attrs)]
    assert "url(" not in source
    assert "@import" not in source


def test_the_screenshot_is_kept(rendered: tuple[str, Node]) -> None:
    assert SCREENSHOT.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert SCREENSHOT.stat().st_size > 20_000


def test_a_page_of_tls_reports_only() -> None:
    intake = Intake()
    intake.add(Payload("tls.json", tls_json()))
    page = parse_dom(html.page(summarise(intake)))
    assert page.find("svg") == []
    assert page.by_id("tls").find("tbody")
    assert tile(page, "tls-successful") == "5326"
    assert not [n for n in page.walk() if n.attrs.get("id") == "tile-messages"]
    assert page.find("h1")[0].all_text() == "Reports for example.test"
