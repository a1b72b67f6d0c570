// Transcript review, under a campaign's Results: a sample of the conversations one arm's
// visitors started (#campaigns/ID/transcripts/PHASE/ARM), or of every arm mixed with the arm
// hidden (#campaigns/ID/blind/PHASE: the server leaves the arm out, and nothing here names
// one). Each transcript is tagged with the space's review tags, saved as they are toggled;
// the space's list of tags is edited here too. Messages are text, never HTML.

import { ApiError, api, get } from "./api.js";
import { bidi, clear, h } from "./dom.js";
import { dateTimeLabel, lang, t, timeLabel, tNodes } from "./i18n.js";

const LIMIT = 20;

const armName = (key) => (key === "holdout" ? t("results.holdout") : key);
/** "1 message", "2 messages": the key's .one or .other form, by the language's rule. */
const plural = (key, n) => t(`${key}.${new Intl.PluralRules(lang()).select(n) === "one" ? "one" : "other"}`, { n });

/**
 * Mount the review of `campaign`'s `phase` in `root`: one arm's transcripts, or (`blind`)
 * every arm's. `hash(...parts)` is the address of one of the campaign's views.
 * Returns {stop()}.
 */
export function mountTranscripts(root, { campaign, blind, phase, arm, handleError, hash }) {
  let alive = true;
  if (campaign.phase < 1) {
    clear(root, h("div", { class: "empty-panel" }, h("p", {}, t("results.notLaunched"))));
    return { stop() {} };
  }
  if (!(phase >= 1 && phase <= campaign.phase)) phase = campaign.phase;
  const id = encodeURIComponent(campaign.id);
  let reviewTags = [];
  const cards = []; // {redraw()} per transcript, drawn again when the space's tags change

  const title = h("h2", { class: "review-title", id: "review-title", tabindex: "-1" }, blind ? t("reviews.blindTitle") : tNodes("reviews.armTitle", { arm: bidi(armName(arm)) }));
  const list = h("ol", { class: "transcript-list", "aria-labelledby": "review-title" });
  const count = h("p", { class: "muted small review-count", "aria-live": "polite" }, t("common.loading"));
  const tagsForm = tagEditor();

  clear(
    root,
    h(
      "div",
      { class: "results-bar review-bar" },
      h("a", { href: hash("results"), class: "back" }, "← ", t("reviews.back")),
      h("span", { class: "chip small" }, t("results.phaseN", { n: phase })),
      blind ? null : h("div", { class: "results-actions" }, h("a", { class: "btn small", href: hash("blind", String(phase)) }, t("reviews.blind"))),
    ),
    h("div", { class: "review-intro" }, title, h("p", { class: "muted" }, blind ? t("reviews.blindIntro") : t("reviews.armIntro", { n: LIMIT }))),
    tagsForm.el,
    count,
    list,
  );

  load();
  return {
    stop() {
      alive = false;
    },
  };

  async function load() {
    const params = new URLSearchParams({ phase: String(phase), limit: String(LIMIT) });
    if (blind) params.set("blind", "true");
    else params.set("arm", arm);
    let answer;
    try {
      answer = await get(`/api/campaigns/${id}/transcripts?${params}`);
    } catch (err) {
      if (!alive) return;
      count.textContent = "";
      handleError(err);
      return;
    }
    if (!alive || !root.isConnected) return;
    reviewTags = answer.review_tags;
    tagsForm.set(reviewTags);
    count.textContent = answer.transcripts.length ? plural("reviews.count", answer.transcripts.length) : "";
    if (!answer.transcripts.length) {
      clear(list, h("li", { class: "empty-panel" }, blind ? t("reviews.noneBlind") : t("reviews.noneArm")));
      return;
    }
    // the order is the server's: in a blind review, an order of the reviewer's own
    clear(list, answer.transcripts.map((item, i) => transcript(item, i + 1)));
  }

  // -- one transcript -----------------------------------------------------------------------

  function transcript(item, n) {
    const titleId = `transcript-${n}`;
    let saved = new Set(item.tags);
    let wanted = new Set(item.tags);
    let saving = false;
    let again = false;
    const toggles = h("div", { class: "review-toggles", role: "group", "aria-labelledby": `${titleId} ${titleId}-tags` });
    const status = h("p", { class: "review-status small", role: "status" });
    const first = item.messages[0]?.created_at;
    const card = h(
      "li",
      { class: "transcript-card", dataset: { conversationId: item.conversation_id } },
      h(
        "div",
        { class: "transcript-head" },
        h("h3", { id: titleId }, t("reviews.transcriptN", { n })),
        h("span", { class: "muted small" }, first ? [h("time", { datetime: first }, dateTimeLabel(first)), " · "] : null, plural("reviews.messages", item.messages.length)),
      ),
      h(
        "ol",
        { class: "review-log", tabindex: "0", "aria-label": t("reviews.logLabel", { n }) },
        item.messages.map((m) => message(m)),
      ),
      h(
        "div",
        { class: "review-foot" },
        h("div", { class: "review-foot-head" }, h("span", { class: "review-tags-label small", id: `${titleId}-tags` }, t("reviews.tags")), status),
        toggles,
      ),
    );

    const redraw = () => {
      clear(
        toggles,
        reviewTags.length
          ? reviewTags.map((tag) =>
              h(
                "button",
                {
                  type: "button",
                  class: "tag-toggle",
                  "aria-pressed": String(wanted.has(tag)),
                  dataset: { tag },
                  onclick: () => {
                    if (wanted.has(tag)) wanted.delete(tag);
                    else wanted.add(tag);
                    redraw();
                    save();
                  },
                },
                h("span", { class: "tick", "aria-hidden": "true" }),
                bidi(tag),
              ),
            )
          : h("span", { class: "muted small" }, t("reviews.noTagsYet")),
      );
    };

    // one save at a time, the last choice wins; a refusal puts back what is saved
    const save = async () => {
      if (saving) {
        again = true;
        return;
      }
      saving = true;
      status.className = "review-status small busy";
      status.textContent = t("reviews.saving");
      const tags = [...wanted].filter((tag) => reviewTags.includes(tag)).sort();
      try {
        const answer = await api("PUT", `/api/campaigns/${id}/transcripts/${encodeURIComponent(item.conversation_id)}/tags?phase=${phase}`, { tags });
        saved = new Set(answer.tags);
        status.className = "review-status small ok";
        status.textContent = answer.tags.length ? t("reviews.saved", { tags: answer.tags.join(", ") }) : t("reviews.savedNone");
      } catch (err) {
        if (err instanceof ApiError && err.status === 401) return handleError(err);
        wanted = new Set(saved);
        again = false;
        redraw();
        status.className = "review-status small error";
        status.textContent = t("reviews.notSaved", { error: err.message || t("error.generic") });
      } finally {
        saving = false;
      }
      if (again) {
        again = false;
        if ([...wanted].sort().join("\n") !== [...saved].sort().join("\n")) save();
      }
    };

    redraw();
    cards.push({ redraw });
    return card;
  }

  function message(m) {
    const kind = m.author.kind === "agent" ? "agent" : m.author.kind === "visitor" ? "visitor" : "system";
    const who = kind === "agent" ? m.author.name || t("reviews.agent") : kind === "visitor" ? t("conv.visitor") : t("reviews.system");
    return h(
      "li",
      { class: `rmsg from-${kind}` },
      h("div", { class: "rmsg-meta" }, h("span", { class: "rmsg-who" }, kind === "agent" ? bidi(who) : who), " · ", h("time", { datetime: m.created_at, title: dateTimeLabel(m.created_at) }, timeLabel(m.created_at))),
      h("div", { class: "rmsg-body" }, bidi(m.body)),
    );
  }

  // -- the space's review tags --------------------------------------------------------------

  function tagEditor() {
    const input = h("input", {
      id: "review-tags-input",
      autocomplete: "off",
      spellcheck: "false",
      "aria-describedby": "review-tags-hint review-tags-error",
    });
    const error = h("p", { class: "form-error", id: "review-tags-error", role: "alert" });
    const done = h("span", { class: "muted small", role: "status" });
    const submit = h("button", { type: "submit", class: "btn small" }, t("reviews.saveTags"));
    const form = h(
      "form",
      { class: "review-tags-form" },
      h("label", { for: "review-tags-input", class: "review-tags-title" }, t("reviews.spaceTags")),
      h("div", { class: "review-tags-row" }, input, submit, done),
      h("p", { class: "field-hint", id: "review-tags-hint" }, t("reviews.tagsHint")),
      error,
    );
    input.addEventListener("input", () => {
      done.textContent = "";
    });
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const tags = input.value.split(/[,\n]/).map((tag) => tag.trim()).filter(Boolean);
      error.textContent = "";
      input.removeAttribute("aria-invalid");
      submit.disabled = true;
      try {
        const answer = await api("PUT", `/api/review-tags?space=${encodeURIComponent(campaign.space)}`, { tags });
        if (!alive) return;
        reviewTags = answer.tags;
        input.value = reviewTags.join(", ");
        done.textContent = t("admin.saved");
        for (const card of cards) card.redraw();
      } catch (err) {
        if (err instanceof ApiError && err.status === 400) {
          error.textContent = err.message; // the server's words; what was typed stays
          input.setAttribute("aria-invalid", "true");
          input.focus();
        } else {
          handleError(err);
        }
      } finally {
        submit.disabled = false;
      }
    });
    return {
      el: form,
      set(tags) {
        input.value = tags.join(", ");
      },
    };
  }
}
