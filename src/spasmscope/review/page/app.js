// The review page: a queue of detections, a player at the moment, a timeline, and keys for every action.
// Everything comes from this session's server; the token rides on every request.
"use strict";
const token = new URLSearchParams(location.search).get("token") || "";
const $ = (id) => document.getElementById(id);
const api = (path, body) => fetch(path + (path.includes("?") ? "&" : "?") + "token=" + encodeURIComponent(token),
  body === undefined ? {} : { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) })
  .then((r) => (r.ok ? r.json() : r.json().then((e) => Promise.reject(new Error(e.error || r.status)))));

let items = [], recordings = {}, lead = 3, current = -1, clipStart = 0, frameS = 1 / 30;

function fmt(s) { const m = Math.floor(s / 60); return `${m}:${(s - 60 * m).toFixed(1).padStart(4, "0")}`; }
function say(text) { $("status").textContent = text; }

async function load(keep) {
  const q = `/api/items?order=${$("order").value}&state=${$("state").value}&recording=${$("recording").value}&reviewer=${encodeURIComponent($("reviewer").value)}`;
  const data = await api(q);
  items = data.items;
  const chosen = $("reviewer").value;  // the others who decided in these runs, offered as they appear
  $("reviewer").replaceChildren(new Option(`me (${data.reviewer})`, ""), ...data.reviewers.slice(1).map((r) => new Option(r, r)));
  $("reviewer").value = chosen;
  $("who").textContent = data.shown_for === data.reviewer ? `reviewer: ${data.reviewer}` : `reviewer: ${data.reviewer}, showing ${data.shown_for}'s decisions`;
  $("progress").textContent = `${data.reviewed} of ${data.total} reviewed`;
  $("empty").hidden = data.total > 0;
  const queue = $("queue");
  queue.replaceChildren(...items.map((it, i) => {
    const li = document.createElement("li");
    li.dataset.id = it.id;
    const rec = recordings[it.recording];
    li.innerHTML = `<span>${it.kind === "added" ? "added" : "detection"} at ${fmt(it.onset)}</span><span class="state ${it.state}">${it.state}</span>` +
      `<span class="meta">${rec ? rec.name : it.recording}${it.peak_score === null ? "" : " · score " + it.peak_score.toFixed(2)}${it.note ? " · " + it.note : ""}${it.others ? " · " + it.others : ""}</span>`;
    li.onclick = () => select(i);
    return li;
  }));
  const at = keep ? items.findIndex((it) => it.id === keep) : -1;
  if (items.length) select(at >= 0 ? at : Math.min(Math.max(current, 0), items.length - 1), at >= 0 && keep === (items[current] || {}).id);
  drawTimeline();
}

function select(i, stay) {
  current = i;
  document.querySelectorAll("#queue li").forEach((li, j) => li.classList.toggle("current", j === i));
  const li = document.querySelectorAll("#queue li")[i];
  if (li) li.scrollIntoView({ block: "nearest" });
  if (!stay) show(items[i]);
  drawTimeline();
}

// Where a detection plays from: the source, the time in it, and where that source starts in the recording.
function source(it) {
  const rec = recordings[it.recording], start = Math.max(0, it.onset - lead);
  if (rec.playable) return { src: `/video/${rec.id}?token=${encodeURIComponent(token)}`, at: start, offset: 0 };
  // a format browsers do not play: a short H.264 clip of the moment, cut by the server
  return { src: `/clip/${rec.id}?start=${start.toFixed(2)}&end=${Math.min(rec.duration, it.offset + lead).toFixed(2)}&token=${encodeURIComponent(token)}`, at: 0, offset: start };
}

function loadInto(video, it) {
  const s = source(it);
  if (video.dataset.src !== s.src) { video.dataset.src = s.src; video.src = s.src; }
  video.currentTime = s.at;
  video.dataset.item = it.id;
  return s;
}

// The next detection waits, loaded and at its moment, in a second player: `j` shows it at once instead of asking
// the server for another file's index and the frames at the moment (over a second for a long file).
function prepareNext() {
  const next = items[current + 1], spare = $("spare");
  if (!next || spare.dataset.item === next.id) return;
  spare.pause();
  loadInto(spare, next);
}

function show(it) {
  const rec = recordings[it.recording], start = Math.max(0, it.onset - lead);
  let player = $("player");
  const spare = $("spare");
  if (spare.dataset.item === it.id && spare.readyState >= 2) {  // swap: the spare becomes the player
    player.pause();
    player.hidden = true; spare.hidden = false;
    player.id = "spare"; spare.id = "player";
    player = spare;
    clipStart = source(it).offset;
  } else {
    clipStart = loadInto(player, it).offset;
  }
  player.play().catch(() => {});
  prepareNext();
  $("strip").src = `/strip/${rec.id}?onset=${it.onset.toFixed(2)}&offset=${it.offset.toFixed(2)}&token=${encodeURIComponent(token)}`;
  say(`${rec.name}: ${it.kind} ${fmt(it.onset)}–${fmt(it.offset)}, playing from ${fmt(start)}`);
}

function now() { return clipStart + $("player").currentTime; }

async function decide(decision, note) {
  const it = items[current];
  if (!it) return;
  const body = { item: it.id, decision, note: note === undefined ? it.note || "" : note };
  await api("/api/decisions", body);
  say(`${decision} saved for ${fmt(it.onset)}`);
  const next = items[current + 1];
  await load(next ? next.id : it.id);
}

async function markMissed() {
  const it = items[current], recId = it ? it.recording : Object.keys(recordings)[0];
  if (!recId) return;
  const at = now();
  await api("/api/added", { recording: recId, onset: at });
  say(`missed spasm marked at ${fmt(at)}`);
  await load(it ? it.id : undefined);
}

function drawTimeline() {
  const canvas = $("timeline"), ctx = canvas.getContext("2d");
  canvas.width = canvas.clientWidth;
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  const it = items[current], rec = it ? recordings[it.recording] : Object.values(recordings)[0];
  if (!rec) return;
  const W = canvas.width, H = canvas.height, x = (t) => (t / rec.duration) * W, y = (s) => H - 8 - s * (H - 16);
  const w = rec.windows;
  for (let i = 0; i < w.start.length; i++) {
    if (w.reason[i]) { ctx.fillStyle = w.reason[i] === "too dark" ? "#555" : w.reason[i] === "lighting changed" ? "#e6b422" : w.reason[i].startsWith("unreadable") ? "#f5b7b1" : "#bbb"; ctx.fillRect(x(w.start[i]), 0, Math.max(1, x(w.end[i]) - x(w.start[i])), 6); }
  }
  for (const other of items.filter((o) => o.recording === rec.id)) {
    ctx.fillStyle = { accept: "#c0392b55", reject: "#2e86c155", unsure: "#e6b42255", undecided: "#88888844" }[other.state];
    ctx.fillRect(x(other.onset), 6, Math.max(2, x(other.offset) - x(other.onset)), H - 6);
  }
  ctx.strokeStyle = "#c0392b"; ctx.setLineDash([4, 3]); ctx.beginPath(); ctx.moveTo(0, y(rec.threshold)); ctx.lineTo(W, y(rec.threshold)); ctx.stroke(); ctx.setLineDash([]);
  ctx.strokeStyle = "#222"; ctx.beginPath();
  for (let i = 0; i < w.start.length; i++) { if (w.score[i] === null) continue; const cx = x((w.start[i] + w.end[i]) / 2); i ? ctx.lineTo(cx, y(w.score[i])) : ctx.moveTo(cx, y(w.score[i])); }
  ctx.stroke();
  ctx.fillStyle = "#2563eb"; ctx.fillRect(x(now()), 0, 2, H);
}

function drawCrop() {
  const canvas = $("overlay"), player = $("player"), ctx = canvas.getContext("2d");
  canvas.width = player.clientWidth; canvas.height = player.clientHeight;
  canvas.style.left = player.offsetLeft + "px"; canvas.style.top = player.offsetTop + "px";
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  const it = items[current];
  if (!$("crop").checked || !it || !player.videoWidth) return;
  const w = recordings[it.recording].windows, t = now();
  const i = w.start.findIndex((s, j) => s <= t && t < w.end[j]);
  if (i < 0 || !w.crop[i]) return;
  const [cx, cy, cw, ch] = w.crop[i], sx = canvas.width / player.videoWidth, sy = canvas.height / player.videoHeight;
  ctx.strokeStyle = "#22c55e"; ctx.lineWidth = 2; ctx.strokeRect(cx * sx, cy * sy, cw * sx, ch * sy);
}

document.addEventListener("keydown", (e) => {
  if (e.target.tagName === "SELECT" || e.target.tagName === "INPUT") return;
  const player = $("player");
  const step = { j: () => current < items.length - 1 && select(current + 1), k: () => current > 0 && select(current - 1),
    a: () => decide("accept"), r: () => decide("reject"), u: () => decide("unsure"), m: markMissed,
    n: () => { const it = items[current]; if (!it) return; const note = prompt("Note on this detection", it.note || ""); if (note !== null) decide(it.state === "undecided" ? "unsure" : it.state, note); },
    " ": () => (player.paused ? player.play() : player.pause()),
    ",": () => { player.pause(); player.currentTime = Math.max(0, player.currentTime - frameS); },
    ".": () => { player.pause(); player.currentTime += frameS; },
    "?": () => { $("help").hidden = !$("help").hidden; } };
  if (e.shiftKey && e.key === "ArrowLeft") { player.currentTime = Math.max(0, player.currentTime - 1); e.preventDefault(); return; }
  if (e.shiftKey && e.key === "ArrowRight") { player.currentTime += 1; e.preventDefault(); return; }
  if (step[e.key]) { e.preventDefault(); step[e.key](); }
});

$("timeline").onclick = (e) => {
  const it = items[current], rec = it ? recordings[it.recording] : null;
  if (!rec) return;
  const t = (e.offsetX / $("timeline").clientWidth) * rec.duration;
  if (rec.playable) $("player").currentTime = t;
  else show({ ...it, onset: t + lead, offset: t + lead });
};
["state", "recording", "order", "reviewer"].forEach((id) => ($(id).onchange = () => { current = 0; load(); }));
$("crop").onchange = drawCrop;
$("help-button").onclick = () => ($("help").hidden = !$("help").hidden);
for (const video of [$("player"), $("spare")]) video.ontimeupdate = () => { if (video.id === "player") { drawTimeline(); drawCrop(); } };

api("/api/recordings").then((data) => {
  lead = data.lead_s;
  for (const rec of data.recordings) {
    recordings[rec.id] = rec;
    $("recording").append(new Option(rec.name, rec.id));
  }
  return load();
}).catch((e) => say("could not load the review: " + e.message));
