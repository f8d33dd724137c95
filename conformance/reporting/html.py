"""Render runs as one self-contained HTML page: a matrix of requirements x targets.

Autobahn|Testsuite's report is the model: one row per test case grouped by section, one column
per implementation, one cell per verdict in colour *and* words (so it reads in greyscale, and for
colour-blind readers), a legend, and the details of a cell one click away. Here a row is a
catalogue requirement (its title, level, RFC references and statement on hover and in the details
panel), a column is a target, and a cell's details are its message, expected/actual and evidence.

No network: the CSS and the few lines of JavaScript (the details panel) are inline, and the matrix
itself is plain HTML that reads without JavaScript. Everything from a target is escaped, and the
data the panel reads sits in a ``<script type="application/json">`` block with ``<`` escaped.

Three entry points, one renderer:

- :func:`render_matrix` takes rows ``{name: {requirement_id: outcome}}`` (and optional
  ``{name: {requirement_id: evidence_text}}``): any "rows x requirement IDs" matrix, such as the
  self-proof matrix of server variants x requirements;
- :func:`render_reports` takes JSON reports (``spec/report.schema.json``), one column each:
  ``tokenconform report A.json B.json --html OUT.html``;
- :func:`render` takes one ``RunResult``: ``tokenconform run --html-report OUT.html``.
"""

from __future__ import annotations

import html
import json
from collections.abc import Mapping, Sequence
from typing import Any

from ..catalog import load_catalog
from ..results import RunResult
from . import _common

__all__ = ["CELL_WORDS", "render", "render_matrix", "render_reports"]

#: outcome -> (cell word, CSS class); an outcome not listed shows in upper case, neutral
CELL_WORDS: Mapping[str, tuple[str, str]] = {
    "passed": ("PASS", "pass"),
    "failed": ("FAIL", "fail"),
    "warning": ("WARN", "warn"),
    "expected": ("XFAIL", "xfail"),
    "now_passes": ("NOW PASSES", "nowpass"),
    "declared": ("DECLARED", "declared"),
    "skipped": ("SKIP", "skip"),
    "error": ("ERROR", "error"),
    "not_checked": ("N/C", "nc"),
    "not_present": ("ABSENT", "absent"),
}
_LEGEND = {
    "pass": "the requirement holds",
    "fail": "a failure that counts",
    "warn": "a SHOULD failure that does not count at the run's level",
    "xfail": "a failure the expected-failures file lists",
    "nowpass": "listed as an expected failure, but passes: remove it from the file",
    "declared": "the profile declares this deviation",
    "skip": "the check could not apply (the note says why)",
    "error": "no verdict: the target answered something the check could not interpret",
    "nc": "not checked (not automated, opt-in, or not selected)",
    "absent": "an optional (MAY) feature the target does not implement",
}

_CSS = """
:root{--pass:#1a7f37;--fail:#cf222e;--warn:#bf8700;--xfail:#d4760a;--nowpass:#8250df;--declared:#6e40c9;
--skip:#57606a;--error:#82071e;--nc:#8c959f;--absent:#0969da;--line:#d0d7de;--bg:#f6f8fa}
*{box-sizing:border-box}body{font:14px/1.4 system-ui,-apple-system,"Segoe UI",sans-serif;margin:0;color:#1f2328}
header{padding:16px 24px;border-bottom:1px solid var(--line)}h1{font-size:20px;margin:0 0 4px}
.sub{color:#57606a;margin:0}main{display:flex;gap:16px;padding:16px 24px;align-items:flex-start}
table.matrix{border-collapse:collapse}th,td{border:1px solid var(--line);padding:3px 6px;text-align:left}
thead th{background:var(--bg);position:sticky;top:0;z-index:1;vertical-align:bottom}
th.row-name{max-width:160px;font-size:12px;word-break:break-word}th.row-name .counts{font-weight:normal;color:#57606a}
tr.category th{background:#eaeef2;font-size:13px;text-align:left}
td.req{white-space:nowrap;font-family:ui-monospace,monospace}
td.title{max-width:420px}td.level{font-size:12px;color:#57606a}
td.cell{font:600 11px/1 ui-monospace,monospace;text-align:center;color:#fff;cursor:pointer;min-width:64px}
td.cell.selected{outline:3px solid #1f2328;outline-offset:-3px}
.pass{background:var(--pass)}.fail{background:var(--fail)}.warn{background:var(--warn)}.xfail{background:var(--xfail)}
.nowpass{background:var(--nowpass)}.declared{background:var(--declared)}.skip{background:var(--skip)}
.error{background:var(--error)}.nc{background:var(--nc)}.absent{background:var(--absent)}.other{background:#424a53}
.missing{background:#fff;color:#8c959f}
aside{position:sticky;top:16px;flex:1;min-width:320px;max-width:640px;border:1px solid var(--line);border-radius:6px;
padding:12px 16px;background:#fff}aside h2{font-size:16px;margin:0 0 8px}
aside dl{margin:0}aside dt{font-weight:600;margin-top:6px}
aside dd{margin:0}aside pre{white-space:pre-wrap;word-break:break-all;background:var(--bg);padding:8px;font-size:12px;
max-height:60vh;overflow:auto}.legend{display:flex;flex-wrap:wrap;gap:6px;margin-top:8px;font-size:12px}
.legend span.swatch{display:inline-block;padding:2px 6px;color:#fff;font:600 11px ui-monospace,monospace;
border-radius:3px}
"""

_JS = """
(function(){
  var data = JSON.parse(document.getElementById('tc-data').textContent);
  var panel = document.getElementById('details');
  function esc(s){var d=document.createElement('div');d.textContent=s==null?'':String(s);return d.innerHTML;}
  function show(cell){
    var prev=document.querySelector('td.cell.selected'); if(prev){prev.classList.remove('selected');}
    cell.classList.add('selected');
    var req=data.requirements[cell.dataset.req]||{}, row=cell.dataset.row;
    var text=((data.evidence[row]||{})[cell.dataset.req])||'';
    panel.innerHTML='<h2>'+esc(cell.dataset.req)+' \\u00b7 '+esc(row)+'</h2><dl>'+
      '<dt>Outcome</dt><dd>'+esc(cell.textContent)+'</dd>'+
      '<dt>Requirement</dt><dd>'+esc(req.title||'')+' ('+esc(req.level||'')+')</dd>'+
      (req.references?'<dt>References</dt><dd>'+esc(req.references)+'</dd>':'')+
      (req.statement?'<dt>Statement</dt><dd>'+esc(req.statement)+'</dd>':'')+
      '<dt>Evidence</dt><dd><pre>'+esc(text||'(none recorded)')+'</pre></dd></dl>';
  }
  document.querySelectorAll('td.cell').forEach(function(cell){
    cell.addEventListener('click',function(){show(cell);});
    cell.addEventListener('keydown',function(e){if(e.key==='Enter'||e.key===' '){e.preventDefault();show(cell);}});
  });
  document.body.dataset.ready='1';
})();
"""


def render_matrix(
    rows: Mapping[str, Mapping[str, str]],
    *,
    evidence: Mapping[str, Mapping[str, str]] | None = None,
    title: str = "tokenconform results",
    subtitle: str = "",
    notes: Mapping[str, str] | None = None,
) -> str:
    """One page: a column per row name, a line per requirement ID (catalogue order and grouping;
    IDs not in the catalogue last, under "Other"), a cell per outcome.

    Args:
        rows: ``{name: {requirement_id: outcome}}``; an outcome is a key of :data:`CELL_WORDS` or any
            other word (shown in upper case, neutral colour). A missing ID is an empty cell.
        evidence: ``{name: {requirement_id: text}}`` shown in the details panel of that cell.
        notes: ``{name: text}`` shown under each column's name (e.g. the target URL and the verdict).
    """
    evidence = evidence or {}
    notes = notes or {}
    catalog = load_catalog()
    known = {r.id: r for r in catalog.requirements}
    used = {rid for outcomes in rows.values() for rid in outcomes}
    names = list(rows)
    requirements: dict[str, dict[str, str]] = {
        rid: {
            "title": r.title,
            "level": r.level.value,
            "references": ", ".join(r.references),
            "statement": r.statement,
        }
        for rid, r in known.items()
        if rid in used
    }
    body: list[str] = []
    for category in catalog.categories:
        ids = [r.id for r in catalog.requirements if r.category == category.name and r.id in used]
        if ids:
            body.append(_category_row(category.title, len(names)))
            body += [_requirement_row(rid, requirements[rid], rows, names) for rid in ids]
    others = sorted(used - set(known))
    if others:
        body.append(_category_row("Other", len(names)))
        body += [_requirement_row(rid, {}, rows, names) for rid in others]
    head = "".join(
        f'<th class="row-name" scope="col">{_e(name)}<div class="counts">{_e(_counts(rows[name]))}</div>'
        f"{f'<div class=counts>{_e(notes[name])}</div>' if name in notes else ''}</th>"
        for name in names
    )
    legend = "".join(
        f'<span><span class="swatch {css}">{_e(word)}</span> {_e(_LEGEND.get(css, ""))}</span>'
        for word, css in CELL_WORDS.values()
    )
    data = {"requirements": requirements, "evidence": {name: dict(evidence.get(name, {})) for name in names}}
    payload = json.dumps(data, ensure_ascii=True).replace("<", "\\u003c").replace(">", "\\u003e")
    return "\n".join(
        [
            "<!DOCTYPE html>",
            '<html lang="en"><head><meta charset="utf-8">',
            '<meta name="viewport" content="width=device-width, initial-scale=1">',
            f"<title>{_e(title)}</title>",
            f"<style>{_CSS}</style></head><body>",
            f"<header><h1>{_e(title)}</h1>" + (f'<p class="sub">{_e(subtitle)}</p>' if subtitle else ""),
            f'<div class="legend">{legend}</div></header>',
            "<main>",
            '<table class="matrix"><thead><tr><th scope="col">ID</th><th scope="col">requirement</th>'
            f'<th scope="col">level</th>{head}</tr></thead><tbody>',
            *body,
            "</tbody></table>",
            '<aside id="details"><h2>Details</h2><p>Click a cell for the requirement, its references and the '
            "evidence behind the verdict.</p></aside>",
            "</main>",
            f'<script type="application/json" id="tc-data">{payload}</script>',
            f"<script>{_JS}</script>",
            "</body></html>",
            "",
        ]
    )


def render_reports(reports: Sequence[tuple[str, Mapping[str, Any]]], *, title: str = "tokenconform results") -> str:
    """The matrix of several JSON reports: ``(name, document)`` pairs, one column each."""
    rows: dict[str, dict[str, str]] = {}
    evidence: dict[str, dict[str, str]] = {}
    notes: dict[str, str] = {}
    for name, document in reports:
        outcomes: dict[str, str] = {}
        texts: dict[str, str] = {}
        for check in document.get("checks", []):
            rid = str(check.get("id", ""))
            outcomes[rid] = _report_cell(check)
            texts[rid] = _cell_text(
                str(check.get("message", "")),
                str(check.get("expected", "")),
                str(check.get("actual", "")),
                [str(e) for e in check.get("evidence", [])],
            )
        rows[name], evidence[name] = outcomes, texts
        verdict = {0: "exit 0", 1: "exit 1: failures", 2: "exit 2: could not judge", 130: "interrupted"}
        code = document.get("exit_code")
        notes[name] = f"{document.get('target', '')} · {verdict.get(code, f'exit {code}') if code is not None else ''}"
        if document.get("fatal"):
            notes[name] += f" · {document['fatal']}"
    subtitle = f"{len(reports)} target{'s' if len(reports) != 1 else ''}: " + ", ".join(name for name, _ in reports)
    return render_matrix(rows, evidence=evidence, title=title, subtitle=subtitle, notes=notes)


def render(run: RunResult) -> str:
    """The HTML report of one run: the matrix with one column."""
    name = f"{run.profile}"
    outcomes, texts = {}, {}
    for result in _common.ordered(run.results):
        tag = _common.ratchet_word(run, result)
        if tag in ("expected", "flaky") and result.outcome.value == "failed":
            outcome = "expected"
        elif tag == "NOW PASSES":
            outcome = "now_passes"
        elif _common.is_warning(run, result):
            outcome = "warning"
        else:
            outcome = result.outcome.value
        outcomes[result.id] = outcome
        texts[result.id] = _cell_text(_common.message(result), result.expected, result.actual, result.evidence)
    word, sentence = _common.verdict(run)
    return render_matrix(
        {name: outcomes},
        evidence={name: texts},
        title=f"tokenconform: {word}",
        subtitle=f"{run.target}, profile {run.profile}, started {run.started_at}: {sentence}",
        notes={name: run.target},
    )


def _report_cell(check: Mapping[str, Any]) -> str:
    outcome = str(check.get("outcome", ""))
    ratchet = str(check.get("ratchet", ""))
    if ratchet == "now_passes":
        return "now_passes"
    if outcome == "failed" and ratchet in ("expected", "flaky"):
        return "expected"
    if outcome == "failed" and not check.get("counts", True):
        return "warning"
    return outcome


def _cell_text(message: str, expected: str, actual: str, evidence: Sequence[str]) -> str:
    parts = [message] if message else []
    if expected:
        parts.append(f"expected: {expected}")
    if actual:
        parts.append(f"actual: {actual}")
    parts += list(evidence)
    return "\n\n".join(parts)


def _counts(outcomes: Mapping[str, str]) -> str:
    passed = sum(1 for o in outcomes.values() if o == "passed")
    failed = sum(1 for o in outcomes.values() if o in ("failed", "now_passes"))
    errors = sum(1 for o in outcomes.values() if o == "error")
    text = f"{passed} pass, {failed} fail"
    return text + (f", {errors} error" if errors else "")


def _category_row(title: str, columns: int) -> str:
    return f'<tr class="category"><th colspan="{columns + 3}" scope="rowgroup">{_e(title)}</th></tr>'


def _requirement_row(
    rid: str, requirement: Mapping[str, str], rows: Mapping[str, Mapping[str, str]], names: list[str]
) -> str:
    title, level, references = (requirement.get(key, "") for key in ("title", "level", "references"))
    about = f"{rid} ({level}) {title}" if level else rid
    if references:
        about += f" — {references}"
    cells = []
    for name in names:
        outcome = rows[name].get(rid)
        if outcome is None:
            cells.append('<td class="missing" title="not in this run">–</td>')
            continue
        word, css = CELL_WORDS.get(outcome, (outcome.upper().replace("_", " "), "other"))
        cells.append(
            f'<td class="cell {css}" tabindex="0" data-row="{_e(name)}" data-req="{_e(rid)}" '
            f'title="{_e(f"{name}: {word} · {about}")}">{_e(word)}</td>'
        )
    return (
        f'<tr><td class="req" title="{_e(about)}">{_e(rid)}</td><td class="title" title="{_e(about)}">{_e(title)}</td>'
        f'<td class="level">{_e(level)}</td>{"".join(cells)}</tr>'
    )


def _e(text: str) -> str:
    return html.escape(text, quote=True)
