"""Costly documentation pages built on purpose, shared by the converter, worker and table tests."""

from __future__ import annotations


def article(title: str, body: str) -> str:
    return (
        f"<!DOCTYPE html><html><head><title>{title}</title></head><body>"
        f"<div id='main-content'><h1>{title}</h1>{body}</div></body></html>"
    )


def nested(depth: int) -> str:
    return article("Deep", "<div>" * depth + "<p>inside</p>" + "</div>" * depth)


def headings(count: int) -> str:
    return article("Many headings", "".join(f"<h2 id='s{i}'>Section {i}</h2><p>Text {i}.</p>" for i in range(count)))


def table(rows: int) -> str:
    cells = "".join(
        f"<tr><td>quota-{i} us-east-{i % 4}</td><td>{i * 1000:,}</td><td>adjustable limit r{i}</td></tr>"
        for i in range(rows)
    )
    head = "<thead><tr><th>Name</th><th>Value</th><th>Notes</th></tr></thead>"
    return article("Quotas", f"<h2>Limits</h2><table>{head}<tbody>{cells}</tbody></table>")
