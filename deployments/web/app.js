// The Paleon page: sign in, identify photos with live progress, read the result, history,
// API keys. Plain ES modules, no build step (docs/web.md says why).
import { barSpan, checkFiles, describeStatus, formatRange, nextLink, parseEvents, percent,
         PERIODS, quotaFrom } from "./logic.js";

const REFRESH_KEY = "paleon.refresh";  // sessionStorage: this tab only (docs/web.md)
let access = null;                       // the access token: in memory only
let limits = { max_files: 5, max_file_bytes: 10 * 1024 * 1024,
               accepted: ["image/jpeg", "image/png", "image/webp"] };
let chosen = [];
let following = null;                    // AbortController of the job being followed
const $ = (id) => document.getElementById(id);

function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else if (key.startsWith("aria-") || key === "role" || key === "href" || key === "alt") node.setAttribute(key, value);
    else node[key] = value;
  }
  for (const child of children) if (child !== null && child !== undefined) node.append(child);
  return node;
}

// One refresh at a time: the server rotates the refresh token and treats a reused one as
// stolen (it ends the session), so parallel 401s must share one exchange.
let refreshing = null;
function refresh() {
  refreshing ??= exchange().finally(() => { refreshing = null; });
  return refreshing;
}

async function exchange() {
  const token = sessionStorage.getItem(REFRESH_KEY);
  if (!token) return false;
  const response = await fetch("/auth/refresh", { method: "POST",
    headers: { "Content-Type": "application/json" }, body: JSON.stringify({ refresh_token: token }) });
  if (!response.ok) { sessionStorage.removeItem(REFRESH_KEY); access = null; return false; }
  signedIn(await response.json());
  return true;
}

function signedIn(tokens) {
  access = tokens.access_token;
  if (tokens.refresh_token) sessionStorage.setItem(REFRESH_KEY, tokens.refresh_token);
}

// A request as the signed-in user; one refresh and retry on 401.
async function api(path, options = {}, retried = false) {
  const headers = { ...(options.headers || {}), Authorization: `Bearer ${access}` };
  const response = await fetch(path, { ...options, headers });
  if (response.status === 401 && !retried && await refresh()) return api(path, options, true);
  if (response.status === 401) { showSignIn("Your session ended; sign in again."); }
  const quota = quotaFrom(response.headers);
  if (quota) showQuota(quota);
  return response;
}

async function detail(response) {
  try { return (await response.json()).detail || response.statusText; }
  catch { return response.statusText || `HTTP ${response.status}`; }
}

function showQuota(quota) {
  const reset = quota.reset ? ` (resets ${quota.reset.toLocaleString()})` : "";
  $("quota").textContent = `${quota.remaining} of ${quota.limit} identifications left today${reset}`;
}

function showSignIn(message = "") {
  access = null;
  if (following) following.abort();
  $("signin").hidden = false;
  $("app").hidden = true;
  $("account").hidden = true;
  $("auth-error").textContent = message;
}

async function showApp() {
  const me = await api("/auth/me");
  if (!me.ok) return showSignIn();
  const user = await me.json();
  $("who").textContent = `Signed in as ${user.username}`;
  $("signin").hidden = true;
  $("app").hidden = false;
  $("account").hidden = false;
  const config = await fetch("/app/config.json");
  if (config.ok) limits = await config.json();
  loadJobs();
  loadKeys();
}

// Sign in / register -------------------------------------------------------------------
let registering = false;
$("auth-toggle").addEventListener("click", () => {
  registering = !registering;
  $("username-field").hidden = !registering;
  $("signin-title").textContent = registering ? "Register" : "Sign in";
  $("auth-submit").textContent = registering ? "Register" : "Sign in";
  $("auth-toggle").textContent = registering ? "Have an account? Sign in" : "New here? Register";
});
$("auth-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const form = new FormData(event.target);
  const body = { email: form.get("email"), password: form.get("password") };
  if (registering) body.username = form.get("username");
  const response = await fetch(registering ? "/auth/register" : "/auth/login", {
    method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
  if (!response.ok) { $("auth-error").textContent = await detail(response); return; }
  signedIn(await response.json());
  event.target.reset();
  await showApp();
});
$("logout").addEventListener("click", async () => {
  const token = sessionStorage.getItem(REFRESH_KEY);
  await api("/auth/logout", { method: "POST", headers: { "Content-Type": "application/json" },
                              body: JSON.stringify({ refresh_token: token }) });
  sessionStorage.removeItem(REFRESH_KEY);
  showSignIn("You are logged out.");
});

// Photos --------------------------------------------------------------------------------
function choose(files) {
  chosen = Array.from(files);
  const errors = checkFiles(chosen, limits);
  $("upload-error").textContent = errors.join("\n");
  const list = $("previews");
  list.replaceChildren(...chosen.filter((f) => limits.accepted.includes(f.type)).map((f) =>
    el("li", {}, el("img", { src: URL.createObjectURL(f), alt: `Preview of ${f.name}` }))));
  return errors.length === 0;
}
$("files").addEventListener("change", (event) => choose(event.target.files));
const drop = $("drop");
drop.addEventListener("keydown", (event) => {
  if (event.key === "Enter" || event.key === " ") { event.preventDefault(); $("files").click(); }
});
drop.addEventListener("dragover", (event) => { event.preventDefault(); drop.classList.add("over"); });
drop.addEventListener("dragleave", () => drop.classList.remove("over"));
drop.addEventListener("drop", (event) => {
  event.preventDefault();
  drop.classList.remove("over");
  choose(event.dataTransfer.files);
});

$("upload-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  if (!choose(chosen)) return;
  const form = new FormData();
  for (const file of chosen) form.append("image_files", file, file.name);
  const fields = new FormData(event.target);
  for (const name of ["age", "locality"]) {
    const value = String(fields.get(name) || "").trim();
    if (value) form.append(name, value);
  }
  $("submit").disabled = true;
  try {
    const response = await api("/classify-async/", { method: "POST", body: form });
    if (response.status === 429) {
      const body = await response.json();
      const reset = body.rate_limit?.reset_at ? new Date(body.rate_limit.reset_at).toLocaleString() : "later";
      $("upload-error").textContent = `You have used today's identifications. You can identify again at ${reset}.`;
      return;
    }
    if (!response.ok) { $("upload-error").textContent = await detail(response); return; }
    const job = await response.json();
    follow(job.job_id);
  } finally {
    $("submit").disabled = false;
  }
});

// Following a job: the live stream, else polling ----------------------------------------
function progress(job) {
  $("progress").textContent = describeStatus(job);
  if (job.status === "completed") { renderResult(job); loadJobs(); }
  if (job.status === "failed") { $("progress").textContent = `Failed: ${job.error}`; loadJobs(); }
  return ["completed", "failed", "canceled"].includes(job.status);
}

async function follow(jobId) {
  if (following) following.abort();
  const controller = new AbortController();
  following = controller;
  const { signal } = controller;
  $("progress").textContent = "Queued";
  try {
    const response = await api(`/result/${jobId}/events`, { signal });
    if (!response.ok || !response.body) throw new Error("no stream");
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      const parsed = parseEvents(buffer + value);
      buffer = parsed.rest;
      for (const ev of parsed.events) {
        if (ev.event === "status" && progress(JSON.parse(ev.data))) { controller.abort(); return; }
      }
    }
  } catch (error) {
    if (signal.aborted) return;
  }
  poll(jobId, signal);  // the stream ended early or is not there: ask every second
}

async function poll(jobId, signal) {
  while (!signal.aborted) {
    const response = await api(`/result/${jobId}`, { signal }).catch(() => null);
    if (response && [401, 403, 404].includes(response.status)) {
      $("progress").textContent = response.status === 404 ? "This job is gone." : "";
      return;
    }
    if (response && response.ok && progress(await response.json())) return;
    await new Promise((done) => setTimeout(done, 1000));
  }
}

// The result ---------------------------------------------------------------------------
function timeBar(range, stated) {
  const bar = el("div", { class: "timebar", role: "img",
    "aria-label": `Geologic range ${formatRange(range)} on the periods of the Phanerozoic` });
  for (const [name, start, end, colour] of PERIODS) {
    const { width } = barSpan(start, end);
    // Named under the bar where there is room; every period has its name as a tooltip.
    const period = el("div", { class: "period", title: `${name} ${start}–${end} Ma` },
                      width > 7 ? el("span", { text: name }) : null);
    period.style.width = `${width}%`;
    period.style.background = colour;
    bar.append(period);
  }
  const mark = (first, last, cls) => {
    const { left, width } = barSpan(first, last);
    const box = el("div", { class: cls });
    box.style.left = `${left}%`;
    box.style.width = `${width}%`;
    bar.append(box);
  };
  mark(range.first_ma, range.last_ma, "range");
  if (stated) mark(stated.first_ma, stated.last_ma, "stated");
  return bar;
}

async function picture(img, specimenId) {
  const response = await api(`/specimens/${encodeURIComponent(specimenId)}/thumbnail`);
  if (response.ok) img.src = URL.createObjectURL(await response.blob());
  else img.alt = `${img.alt} (no picture)`;
}

function linksOf(links) {
  if (!links) return null;
  return el("p", {}, "Read more: ",
    el("a", { href: links.pbdb, text: "Paleobiology Database", target: "_blank", rel: "noopener" }), " · ",
    el("a", { href: links.gbif, text: "GBIF", target: "_blank", rel: "noopener" }), " · ",
    el("a", { href: links.wikipedia, text: "Wikipedia", target: "_blank", rel: "noopener" }));
}

function renderResult(job) {
  const result = job.result;
  if (!result) { $("progress").textContent = describeStatus(job); return; }
  const id = result.identification;
  const body = $("result-body");
  const parts = [];
  if (result.warnings.length) {
    parts.push(el("div", { class: "warnings", role: "note", "aria-label": "Warnings" },
      el("ul", {}, ...result.warnings.map((w) => el("li", { text: w })))));
  }
  const title = id.taxon ? id.taxon : "Not identified";
  parts.push(el("p", { class: "name" }, title, id.rank ? el("span", { class: "rank", text: ` ${id.rank}` }) : null));
  if (id.scientific_name && id.scientific_name !== id.taxon) parts.push(el("p", {}, el("em", { text: id.scientific_name })));
  if (id.lineage.length) {
    parts.push(el("ol", { class: "lineage", "aria-label": "Lineage" },
      ...id.lineage.map((t) => el("li", { text: t.name, title: t.rank }))));
  }
  const confidence = el("div", { class: "bar", role: "meter", "aria-label": "Confidence",
    "aria-valuemin": "0", "aria-valuemax": "100", "aria-valuenow": String(Math.round(id.confidence * 100)) },
    el("span"));
  confidence.firstChild.style.width = percent(id.confidence);
  parts.push(el("p", { text: `Confidence ${percent(id.confidence)} (${id.source})` }), confidence);
  if (result.candidates.length) {
    parts.push(el("h3", { text: "Candidates" }), el("ul", { class: "candidates" },
      ...result.candidates.map((c) => {
        const bar = el("div", { class: "bar" }, el("span"));
        bar.firstChild.style.width = percent(c.confidence);
        const fit = c.range_consistent === false ? " (range misses the stated age)" : "";
        return el("li", {}, el("span", { text: c.taxon + fit }), bar, el("span", { text: percent(c.confidence) }));
      })));
  }
  if (id.geologic_range) {
    parts.push(el("h3", { text: "Geologic range" }), el("p", { text: formatRange(id.geologic_range) }),
               timeBar(id.geologic_range, result.context?.age),
               el("p", { class: "legend", text: "Solid box: the known range. "
                 + (result.context?.age ? "Dashed: the age you stated." : "") }));
  }
  if (result.context?.age || result.context?.locality) {
    const stated = [result.context.age ? `age ${result.context.age.input}` : null,
                    result.context.locality ? `found at ${result.context.locality}` : null].filter(Boolean);
    parts.push(el("p", { text: `You said: ${stated.join("; ")}.` }));
  }
  if (id.description) parts.push(el("h3", { text: "Description" }), el("p", { text: id.description }));
  if (id.diagnostic_features.length) {
    parts.push(el("h3", { text: "Diagnostic features" }),
               el("ul", {}, ...id.diagnostic_features.map((f) => el("li", { text: f }))));
  }
  if (id.look_alikes.length) {
    parts.push(el("h3", { text: "Look-alikes: how to tell" }), el("ul", {},
      ...id.look_alikes.map((l) => el("li", {}, el("strong", { text: `${l.name}: ` }), l.how_to_tell))));
  }
  parts.push(el("p", { class: "explanation", text: id.explanation }));
  if (id.references.length) {
    parts.push(el("h3", { text: "References" }), el("ul", {}, ...id.references.map((r) => el("li", { text: r }))));
  }
  parts.push(linksOf(id.links));
  if (result.similar_specimens.length) {
    const list = el("ul", { class: "specimens", "aria-label": "Similar reference specimens" });
    for (const s of result.similar_specimens.slice(0, 8)) {
      const img = el("img", { alt: `Reference specimen: ${s.label}` });
      list.append(el("li", {}, el("figure", {}, img, el("figcaption", { text: `${s.label} · ${s.score.toFixed(2)}` }))));
      picture(img, s.id);
    }
    parts.push(el("h3", { text: "Similar reference specimens" }), list);
  }
  body.replaceChildren(...parts.filter(Boolean));
  $("result").hidden = false;
}

// History ------------------------------------------------------------------------------
let nextJobs = null;
async function loadJobs(url = "/jobs?limit=10") {
  const response = await api(url);
  if (!response.ok) return;
  const jobs = await response.json();
  const items = jobs.map((job) => {
    const name = job.result?.identification?.taxon || describeStatus(job);
    const open = el("button", { type: "button", class: "secondary", text: "Open" });
    open.addEventListener("click", () => job.status === "completed" ? renderResult(job) : follow(job.job_id));
    return el("li", {}, el("span", { text: `${new Date(job.created_at).toLocaleString()} — ${name}` }), open);
  });
  if (url.includes("cursor=")) $("jobs").append(...items);
  else $("jobs").replaceChildren(...items);
  nextJobs = nextLink(response.headers.get("Link"));
  $("more-jobs").hidden = !nextJobs;
}
$("more-jobs").addEventListener("click", () => nextJobs && loadJobs(nextJobs));

// API keys -----------------------------------------------------------------------------
async function loadKeys() {
  const response = await api("/auth/api-keys");
  if (!response.ok) return;
  const keys = (await response.json()).filter((k) => !k.revoked_at);
  $("key-list").replaceChildren(...keys.map((key) => {
    const revoke = el("button", { type: "button", class: "secondary", text: "Revoke",
                                  "aria-label": `Revoke key ${key.name}` });
    revoke.addEventListener("click", async () => {
      const done = await api(`/auth/api-keys/${key.id}`, { method: "DELETE" });
      if (done.ok) loadKeys();
    });
    return el("li", {}, el("span", {}, el("strong", { text: key.name }), " ", el("code", { text: `${key.prefix}…` })), revoke);
  }));
}
$("key-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const name = new FormData(event.target).get("name");
  const response = await api("/auth/api-keys", { method: "POST",
    headers: { "Content-Type": "application/json" }, body: JSON.stringify({ name }) });
  if (!response.ok) { $("new-key").hidden = false; $("new-key-value").textContent = await detail(response); return; }
  const created = await response.json();
  $("new-key-value").textContent = created.key;
  $("new-key").hidden = false;
  event.target.reset();
  loadKeys();
});
$("copy-key").addEventListener("click", async () => {
  try { await navigator.clipboard.writeText($("new-key-value").textContent); $("copy-key").textContent = "Copied"; }
  catch { $("copy-key").textContent = "Select and copy"; }
});

// Start: stay signed in with this tab's refresh token ------------------------------------
(async () => {
  if (await refresh()) await showApp();
  else showSignIn();
})();
