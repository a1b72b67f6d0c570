// DOM helpers. Every piece of data becomes a text node: nothing here parses HTML, and the
// page's CSP (Trusted Types) would refuse it if anything tried.

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

const URL_RE = /\bhttps?:\/\/[^\s<>"']+/gi;

/** Text with its http(s) URLs as links; everything else stays text. */
export function linkified(text) {
  const out = [];
  let last = 0;
  for (const match of String(text).matchAll(URL_RE)) {
    let url = match[0].replace(/[.,;:!?)\]]+$/, "");
    const start = match.index;
    if (start > last) out.push(document.createTextNode(text.slice(last, start)));
    const href = safeHref(url);
    if (href) {
      out.push(h("a", { href, target: "_blank", rel: "noopener noreferrer nofollow" }, url));
    } else {
      out.push(document.createTextNode(url));
    }
    last = start + url.length;
  }
  if (last < text.length) out.push(document.createTextNode(text.slice(last)));
  return out;
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
