// DOM helpers. Every piece of data becomes a text node: nothing here parses HTML, and the
// page's CSP (Trusted Types) would refuse it if anything tried. Every piece of user text is
// also bidi-isolated (bidi(), linkified(), bidiText()): a U+202E or any other bidi control in
// a name or a message reorders that text alone, never the time or the words around it.

/** h("button", {class: "x", onclick: fn, "aria-label": "Close"}, "text", otherNode) */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("on") && typeof value === "function") {
      el.addEventListener(key.slice(2), value);
    } else if (key === "class") {
      el.className = value;
    } else if (key === "dataset") {
      Object.assign(el.dataset, value);
    } else if (key === "value") {
      el.value = value;
    } else if (key === "checked" || key === "disabled" || key === "selected" || key === "hidden") {
      el[key] = Boolean(value);
    } else {
      el.setAttribute(key, value === true ? "" : String(value));
    }
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

export function clear(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

/**
 * The text with its isolates balanced line by line, so that the element holding it contains
 * it: a PDI (U+2069) with no isolate of its own to close would close the element's, and one
 * left open would swallow the element's PDI. Line by line because a line break ends a bidi
 * paragraph where white space is kept (the element's isolate is opened again after it), and
 * every paragraph separator becomes a newline. Embeddings and overrides (U+202A-U+202E) need
 * nothing: the end of an isolate, or of a paragraph, ends them.
 */
export function balanced(value) {
  return String(value)
    // eslint-disable-next-line no-control-regex -- U+001C-U+001E are paragraph separators
    .split(/\r\n?|[\n\x1c-\x1e\x85\u2029]/)
    .map((line) => {
      let open = 0;
      const kept = line.replace(/[\u2066-\u2069]/g, (c) => (c !== "\u2069" ? (open++, c) : open ? (open--, c) : ""));
      return kept + "\u2069".repeat(open);
    })
    .join("\n");
}

/** User text in a <bdi>: its own direction (dir=auto), isolated from what is around it. */
export function bidi(value) {
  return h("bdi", {}, balanced(value));
}

/** User text isolated inside plain text (an <option>, a notification): FSI, the text on one
 * line (a line break would end the FSI), PDI. */
export function bidiText(value) {
  return `\u2068${balanced(value).replaceAll("\n", " ")}\u2069`;
}

const BIDI_CONTROLS = /[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;
const URL_RE = /\bhttps?:\/\/[^\s<>"'\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]+/gi;

/** A link to an http(s) URL, or the URL as text. The link reads left to right, isolated, as it
 * will open: the URL's own bidi controls are left out of what it shows. */
export function link(url) {
  const href = safeHref(url);
  if (!href) return bidi(url);
  const text = String(url).replace(BIDI_CONTROLS, "");
  return h("a", { href, dir: "ltr", target: "_blank", rel: "noopener noreferrer nofollow" }, text);
}

/** User text in a <bdi>, its http(s) URLs as links (a bidi control ends a URL); the rest text. */
export function linkified(value) {
  const text = balanced(value);
  const out = [];
  let last = 0;
  for (const match of text.matchAll(URL_RE)) {
    let url = match[0].replace(/[.,;:!?)\]]+$/, "");
    const start = match.index;
    if (start > last) out.push(text.slice(last, start));
    out.push(safeHref(url) ? link(url) : url);
    last = start + url.length;
  }
  if (last < text.length) out.push(text.slice(last));
  return h("bdi", {}, out);
}

/** The URL if it is http(s), else null: no javascript:, data: or anything else. */
export function safeHref(value) {
  try {
    const url = new URL(String(value));
    return url.protocol === "http:" || url.protocol === "https:" ? url.href : null;
  } catch {
    return null;
  }
}

export function initials(name) {
  const parts = String(name || "?").trim().split(/\s+/).filter(Boolean);
  const letters = parts.slice(0, 2).map((p) => Array.from(p)[0] || "");
  return (letters.join("") || "?").toUpperCase();
}

/** A stable hue for a string, for avatars. */
export function hue(text) {
  let n = 0;
  for (const ch of String(text)) n = (n * 31 + ch.codePointAt(0)) % 360;
  return n;
}

export function announce(text) {
  const live = document.getElementById("live");
  if (live) live.textContent = text;
}

export function avatar(name, seed, size = "") {
  return h("span", { class: `avatar av-${hue(seed || name) % 8} ${size}`, "aria-hidden": "true" }, initials(name));
}
