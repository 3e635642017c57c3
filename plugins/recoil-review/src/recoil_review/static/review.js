// The dailies page: reads /api/episode, shows scenes -> beats -> takes, and sends the
// reviewer's marks as JSON. Polls for new takes; players and typed notes survive updates.
"use strict";

const TOKEN_KEY = "recoil-review-token";
const REVIEWER_KEY = "recoil-review-reviewer";
const players = new Map(); // "scene/beat/take" -> <video>, kept across updates
const notes = new Map(); // "scene/beat" -> <input>, kept across updates
let revision = null;
let pollTimer = null;

function takeToken() {
  // The token comes in the URL's fragment (never sent to the server); keep it for this tab.
  const match = location.hash.match(/token=([A-Za-z0-9_-]+)/);
  if (match) {
    sessionStorage.setItem(TOKEN_KEY, match[1]);
    history.replaceState(null, "", location.pathname + location.search);
  }
  return sessionStorage.getItem(TOKEN_KEY);
}
let token = takeToken();
window.addEventListener("hashchange", () => {
  token = takeToken();
  say(token ? "token taken from the address" : "", false);
});

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "class") node.className = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children) {
    if (child === null || child === undefined) continue;
    node.append(child instanceof Node ? child : String(child));
  }
  return node;
}

function say(message, isError) {
  const status = document.getElementById("status");
  status.textContent = message;
  status.className = isError ? "error" : "";
}

async function load() {
  const response = await fetch("/api/episode", { headers: { Accept: "application/json" } });
  const data = await response.json();
  if (!response.ok) throw new Error(data.message || response.statusText);
  return data;
}

async function refresh(force) {
  try {
    const data = await load();
    if (force || data.revision !== revision) {
      render(data);
      revision = data.revision;
    }
    schedule(data.poll_s);
  } catch (err) {
    say("could not read the episode: " + err.message, true);
    schedule(5);
  }
}

function schedule(seconds) {
  clearTimeout(pollTimer);
  pollTimer = setTimeout(() => refresh(false), Math.max(0.5, seconds || 2) * 1000);
}

async function send(scene, beat, action, body) {
  const headers = { "Content-Type": "application/json", "X-Recoil-Review": "1" };
  if (token) headers["X-Recoil-Token"] = token;
  const reviewer = document.getElementById("reviewer").value.trim();
  const url = `/api/scenes/${encodeURIComponent(scene)}/beats/${encodeURIComponent(beat)}/${action}`;
  try {
    const response = await fetch(url, {
      method: "POST",
      headers,
      body: JSON.stringify({ ...body, by: reviewer || undefined }),
    });
    const data = await response.json();
    if (!response.ok) throw new Error(data.message || response.statusText);
    say(`${beat}: ${action} saved`, false);
    await refresh(true);
    return true;
  } catch (err) {
    say(`${beat}: ${action} refused: ${err.message}`, true);
    return false;
  }
}

function money(value) {
  return value === null || value === undefined ? "—" : "$" + value;
}

function renderSpend(spend) {
  const node = document.getElementById("spend");
  const cap = spend.cap_usd === null ? "no cap given" : `of ${money(spend.cap_usd)} cap`;
  const left = spend.remaining_usd === null ? "" : `, ${money(spend.remaining_usd)} left`;
  node.textContent = `spent ${money(spend.spent_usd)} ${cap}${left} (${spend.charges} charge(s))`;
  node.className = spend.over_cap ? "spend over" : "spend";
}

function player(scene, beat, take) {
  const key = `${scene}/${beat}/${take.take_id}`;
  if (!take.video_url) return el("div", { class: "no-video" }, take.state === "succeeded" ? "render missing" : take.state);
  let video = players.get(key);
  if (!video || video.dataset.src !== take.video_url) {
    video = el("video", {
      controls: true, preload: "metadata", playsinline: true, muted: true,
      src: take.video_url, "data-take": take.take_id,
    });
    video.muted = true;
    video.dataset.src = take.video_url;
    players.set(key, video);
  }
  return video;
}

function noteInput(scene, beat) {
  const key = `${scene}/${beat}`;
  let input = notes.get(key);
  if (!input) {
    input = el("input", { type: "text", placeholder: "note (a reject needs one)", maxlength: "2000", "data-note": beat });
    notes.set(key, input);
  }
  return input;
}

function markLine(beat) {
  const mark = beat.mark;
  const parts = [];
  if (mark && mark.verdict) parts.push(`${mark.verdict} by ${mark.by}${mark.note ? ": " + mark.note : ""}`);
  if (mark && mark.selected_take && !mark.verdict) parts.push(`selected by ${mark.by}`);
  if (beat.pending_retakes) parts.push(`${beat.pending_retakes} retake(s) requested for the next run`);
  else if (mark && mark.retakes_requested) parts.push(`${mark.retakes_requested} retake(s) asked for, started`);
  return parts.join(" · ");
}

function takeCard(scene, beat, take) {
  const verdict = beat.mark && beat.mark.verdict && take.in_cut ? beat.mark.verdict : null;
  const classes = ["take", take.in_cut ? "in-cut" : "", verdict || ""].join(" ").trim();
  const refs = take.references.length
    ? el("ul", {}, ...take.references.map((ref) =>
        el("li", {}, `${ref.role}: `, ref.url ? el("a", { href: ref.url, target: "_blank", rel: "noopener" }, ref.name) : ref.name)))
    : "none";
  const rendered = take.state === "succeeded" && take.video_url;
  const noteOf = () => noteInput(scene, beat.beat_id).value.trim();
  const act = (action, body) => async (event) => {
    event.target.disabled = true;
    await send(scene, beat.beat_id, action, body());
    event.target.disabled = false;
  };
  return el("article", { class: classes, "data-take": take.take_id, "data-state": take.state },
    el("h3", {}, take.take_id, " ", el("span", { class: `badge ${take.state}` }, take.state),
      take.in_cut ? el("span", { class: "badge", "data-testid": "in-cut" }, "in the cut") : null,
      verdict ? el("span", { class: "badge", "data-testid": "verdict" }, verdict) : null),
    player(scene, beat.beat_id, take),
    el("dl", {},
      el("dt", {}, "prompt"), el("dd", {}, take.prompt || "—"),
      el("dt", {}, "model"), el("dd", {}, `${take.model || "—"} via ${take.provider || "—"}`),
      el("dt", {}, "seed"), el("dd", {}, take.seed === null ? "—" : take.seed),
      el("dt", {}, "references"), el("dd", {}, refs),
      el("dt", {}, "cost"), el("dd", {}, `${money(take.cost_usd)} (estimate ${money(take.estimate_usd)})`),
      take.error ? el("dt", {}, "error") : null, take.error ? el("dd", {}, take.error) : null,
      take.attention ? el("dt", {}, "attention") : null, take.attention ? el("dd", {}, take.attention) : null),
    el("div", { class: "take-tools" },
      el("button", { "data-action": "select", disabled: !rendered || take.selected, onclick: act("select", () => ({ take_id: take.take_id })) },
        take.selected ? "Selected" : "Select"),
      " ",
      el("button", { "data-action": "approve", disabled: !rendered, onclick: act("approve", () => ({ take_id: take.take_id, note: noteOf() })) }, "Approve"),
      " ",
      el("button", { "data-action": "reject", disabled: !rendered, onclick: act("reject", () => ({ take_id: take.take_id, note: noteOf() })) }, "Reject…")));
}

function beatSection(scene, beat) {
  const shots = beat.segments.length
    ? beat.segments.map((s) => `${s.shot_id || "—"} ${s.duration_s}s`).join(", ")
    : beat.shot_ids.join(", ");
  return el("section", { class: "beat", "data-beat": beat.beat_id },
    el("div", { class: "beat-head" },
      el("strong", {}, beat.beat_id), el("span", {}, beat.modality), el("span", {}, shots),
      el("span", { class: "mark", "data-testid": "mark" }, markLine(beat))),
    el("div", { class: "beat-tools" },
      noteInput(scene.scene_id, beat.beat_id),
      el("button", { "data-action": "retake", onclick: async (event) => {
        event.target.disabled = true;
        await send(scene.scene_id, beat.beat_id, "retake", {});
        event.target.disabled = false;
      } }, "Request retake")),
    el("div", { class: "takes" }, ...beat.takes.map((take) => takeCard(scene.scene_id, beat, take))));
}

function render(data) {
  document.title = `${data.project}/${data.episode} · Recoil dailies`;
  document.getElementById("title").textContent = `${data.project} / ${data.episode}`;
  renderSpend(data.spend);
  const reviewer = document.getElementById("reviewer");
  if (!reviewer.value) reviewer.value = localStorage.getItem(REVIEWER_KEY) || data.reviewer || "";
  const main = document.getElementById("episode");
  const sections = data.scenes.map((scene) =>
    el("section", { class: "scene", "data-scene": scene.scene_id },
      el("h2", {}, `${scene.scene_id} · v${scene.version}`),
      ...scene.beats.map((beat) => beatSection(scene, beat))));
  main.replaceChildren(...(sections.length ? sections : [el("p", {}, "No scenes yet: run the episode first.")]));
  document.body.dataset.revision = data.revision;
  if (data.token_required && !token) say("This server needs its token: open the URL it printed when it started.", true);
}

document.getElementById("reviewer").addEventListener("change", (event) => {
  localStorage.setItem(REVIEWER_KEY, event.target.value.trim());
});
refresh(true);
