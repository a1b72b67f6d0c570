"""How the browser tests start Chromium (Debian's build, headless, nothing fetched), and two
probes they run in its pages for bidi controls in user text."""

from __future__ import annotations

from typing import Any

__all__ = ["BIDI_AUDIT", "SCREEN_ORDER", "launch_chromium"]

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


async def launch_chromium(playwright: Any) -> Any:
    return await playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)


# (root) => the text nodes under root (a document or a shadow root) whose bidi controls can
# reach beyond them. A control is contained in a <bdi> (unicode-bidi: isolate) whose every line
# closes the isolates it opens, or in plain text (an <option>) between an FSI and its PDI.
BIDI_AUDIT = r"""(root) => {
  const CONTROL = /[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/;
  const contained = (text, plain) => text.split("\n").every((line) => {
    let open = 0;
    for (const c of line) {
      if (c >= "\u2066" && c <= "\u2068") open += 1;
      else if (c === "\u2069") { if (!open) return false; open -= 1; }
      else if (plain && !open && CONTROL.test(c)) return false;
    }
    return open === 0;
  });
  const bad = [];
  const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    if (!CONTROL.test(node.data)) continue;
    const parent = node.parentElement;
    const bdi = parent.closest("bdi");
    const ok = bdi
      ? getComputedStyle(bdi).unicodeBidi === "isolate" && contained(bdi.textContent, false)
      : parent.closest("option") !== null && contained(node.data, true);
    if (!ok) bad.push(`${parent.localName}.${parent.className}: ${JSON.stringify(node.data)}`);
  }
  return bad;
}"""

# (text node) => its characters as they stand on the screen, left to right: "MP 53:4" for a
# "4:35 PM" that a U+202E before it reversed
SCREEN_ORDER = r"""(node) => {
  const range = document.createRange();
  const cells = [];
  for (let i = 0; i < node.data.length; i++) {
    range.setStart(node, i);
    range.setEnd(node, i + 1);
    const box = range.getBoundingClientRect();
    if (box.width > 0) cells.push([box.left, node.data[i]]);
  }
  return cells.sort((a, b) => a[0] - b[0]).map((cell) => cell[1]).join("");
}"""
