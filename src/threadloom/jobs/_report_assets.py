"""The constant CSS and JavaScript inlined into the HTML report (see ``_report``).

Kept apart from the rendering code so that each file has one job. Both are
allowed by the report's Content-Security-Policy through their SHA-256 hashes,
so any markup that slipped past escaping still could not run a script.
"""

from __future__ import annotations

STYLE = """\
:root{--fg:#1f2328;--muted:#59636e;--line:#d8dee4;--bg:#f6f8fa;--card:#fff;--grid:#eaeef2;
--band:#f6f8fa}
*{box-sizing:border-box}
body{margin:0;background:var(--bg);color:var(--fg);
font:14px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif}
main{max-width:1240px;margin:0 auto;padding:24px 20px 40px}
h1{font-size:22px;font-weight:650;margin:0 0 2px;overflow-wrap:anywhere}
h2{font-size:15px;font-weight:650;margin:0 0 10px}
.meta{color:var(--muted);margin:0 0 16px}
.meta b{color:var(--fg);font-weight:600;font-variant-numeric:tabular-nums}
.headline{margin:-8px 0 16px;font-weight:600}
.cards{display:grid;grid-template-columns:repeat(auto-fit,minmax(140px,1fr));gap:12px;
margin:0 0 16px}
.card{background:var(--card);border:1px solid var(--line);border-left-width:4px;
border-radius:8px;padding:8px 14px}
.card .v{display:block;font-size:22px;font-weight:650;font-variant-numeric:tabular-nums}
.card .k{display:block;color:var(--muted);font-size:12px;text-transform:uppercase;
letter-spacing:.05em}
section{background:var(--card);border:1px solid var(--line);border-radius:8px;
padding:14px 16px;margin:0 0 16px;overflow-x:auto}
.grid2{display:grid;grid-template-columns:repeat(auto-fit,minmax(340px,1fr));gap:16px}
.grid2 section{margin:0}
.after{margin-top:16px}
table{border-collapse:collapse;width:100%;font-variant-numeric:tabular-nums}
th,td{text-align:left;padding:4px 8px;border-bottom:1px solid var(--grid);vertical-align:top}
th{color:var(--muted);font-weight:600;font-size:12px;text-transform:uppercase;
letter-spacing:.04em}
td.n,th.n{text-align:right;white-space:nowrap}
td.reason{overflow-wrap:anywhere}
td.bar{width:30%}
svg.share{display:block;width:100%;height:8px;margin-top:6px;background:var(--grid);
border-radius:4px}
.legend{display:flex;flex-wrap:wrap;gap:6px 16px;margin:0 0 8px;padding:0;list-style:none;
color:var(--muted);font-size:13px}
.legend svg{width:12px;height:12px;vertical-align:-1px;margin-right:5px;border-radius:2px}
.note{color:var(--muted);font-size:12px;margin:6px 0 0}
svg.chart{display:block;width:100%;height:auto}
svg.chart text{font-size:11px;fill:var(--muted);font-variant-numeric:tabular-nums}
svg.chart text.lbl{font-size:12px;fill:var(--fg)}
svg.chart .gl{stroke:var(--grid);stroke-width:1}
svg.chart .ax{stroke:var(--muted);stroke-width:1}
svg.chart .band{fill:var(--band)}
svg.chart g.row rect,svg.chart g.bar rect{shape-rendering:crispEdges}
svg.chart rect:hover,svg.chart g.agg:hover rect{opacity:.7}
#tip{position:fixed;z-index:9;max-width:560px;padding:6px 9px;border-radius:6px;
background:#1f2328;color:#fff;font-size:12px;line-height:1.4;white-space:pre-line;
overflow-wrap:anywhere;pointer-events:none;box-shadow:0 4px 12px rgba(0,0,0,.2)}
#tip[hidden]{display:none}
.js-only{display:none}
html[data-js=ready] .js-only{display:inline}
footer{color:var(--muted);font-size:12px;text-align:center}
"""
"""The report's fixed style sheet; per-outcome fill colours are appended per report."""

SCRIPT = """\
(function () {
  "use strict";
  var tip = document.getElementById("tip");
  document.documentElement.setAttribute("data-js", "ready");
  if (!tip) { return; }
  // The tooltip text lives in SVG <title> children so that it also works with
  // scripts disabled; on first hover it moves to data-tip, which keeps the
  // browser's own (slow, small) title tooltip from showing twice.
  function owner(node) {
    for (; node && node.nodeType === 1; node = node.parentNode) {
      if (node.hasAttribute("data-tip")) { return node; }
      var first = node.firstElementChild;
      if (node.localName !== "svg" && first && first.localName === "title") {
        node.setAttribute("data-tip", first.textContent);
        node.removeChild(first);
        return node;
      }
    }
    return null;
  }
  document.addEventListener("mouseover", function (event) {
    var node = owner(event.target);
    if (!node) { tip.hidden = true; return; }
    tip.textContent = node.getAttribute("data-tip");
    tip.hidden = false;
  });
  document.addEventListener("mousemove", function (event) {
    if (tip.hidden) { return; }
    var x = event.clientX + 14, y = event.clientY + 14;
    var w = tip.offsetWidth, h = tip.offsetHeight;
    if (x + w > window.innerWidth - 8) { x = event.clientX - w - 14; }
    if (y + h > window.innerHeight - 8) { y = event.clientY - h - 14; }
    tip.style.left = Math.max(4, x) + "px";
    tip.style.top = Math.max(4, y) + "px";
  });
})();
"""
"""The only script: hover tooltips; the report is complete without it."""
