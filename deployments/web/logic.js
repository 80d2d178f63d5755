// Pure helpers of the page (no DOM), unit-tested with `node --test` (tests/web/).

// The ICS chart's periods with its colours (CGMW/ICS 2023/09), oldest first, in Ma.
export const PERIODS = [
  ["Cambrian", 538.8, 485.4, "#7FA056"], ["Ordovician", 485.4, 443.8, "#009270"],
  ["Silurian", 443.8, 419.2, "#B3E1B6"], ["Devonian", 419.2, 358.9, "#CB8C37"],
  ["Carboniferous", 358.9, 298.9, "#67A599"], ["Permian", 298.9, 251.9, "#F04028"],
  ["Triassic", 251.9, 201.4, "#812B92"], ["Jurassic", 201.4, 145.0, "#34B2C9"],
  ["Cretaceous", 145.0, 66.0, "#7FC64E"], ["Paleogene", 66.0, 23.03, "#FD9A52"],
  ["Neogene", 23.03, 2.58, "#FFE619"], ["Quaternary", 2.58, 0, "#F9F97F"],
];
export const OLDEST = PERIODS[0][1];

export const ACCEPTED = ["image/jpeg", "image/png", "image/webp"];

// The server's own checks and words (jobs/uploads.py), before anything is sent.
export function checkFiles(files, limits) {
  const errors = [];
  if (files.length < 1) errors.push("Attach 1 to 5 photos in the multipart field `image_files`.");
  if (files.length > limits.max_files) {
    errors.push(`Too many photos: ${files.length}. Send at most ${limits.max_files} per job.`);
  }
  for (const file of files) {
    const accepted = limits.accepted || ACCEPTED;
    if (!accepted.includes(file.type)) {
      errors.push(`File '${file.name}' has content type '${file.type || "unknown"}'; ` +
                  `accepted: ${accepted.join(", ")}.`);
    } else if (file.size > limits.max_file_bytes) {
      errors.push(`File '${file.name}' is ${file.size} bytes; the limit is ` +
                  `${limits.max_file_bytes} bytes.`);
    } else if (file.size === 0) {
      errors.push(`File '${file.name}' is empty.`);
    }
  }
  return errors;
}

function ma(value) {
  if (value === 0) return "today";
  return `${Number(value.toPrecision(4))} Ma`;
}

// "409–66 Ma (Devonian to Cretaceous)", "495 Ma – today (Cambrian to Quaternary)".
export function formatRange(range) {
  if (!range) return "";
  const span = range.last_ma === 0 ? `${ma(range.first_ma)} – today`
    : `${Number(range.first_ma.toPrecision(4))}–${ma(range.last_ma)}`;
  const periods = range.periods || [];
  const named = periods.length === 0 ? "" : periods.length === 1 ? ` (${periods[0]})`
    : ` (${periods[0]} to ${periods[periods.length - 1]})`;
  return span + named;
}

// Where an interval sits on a 0–100 % bar of the Phanerozoic, oldest at the left.
export function barSpan(firstMa, lastMa) {
  const clamp = (v) => Math.min(Math.max(v, 0), OLDEST);
  const left = (OLDEST - clamp(firstMa)) / OLDEST * 100;
  const right = (OLDEST - clamp(lastMa)) / OLDEST * 100;
  return { left: Math.round(left * 100) / 100, width: Math.max(Math.round((right - left) * 100) / 100, 0.6) };
}

export function percent(p) {
  return `${Math.round(p * 100)}%`;
}

// RFC 8288 Link header → the rel="next" address, or null.
export function nextLink(header) {
  if (!header) return null;
  for (const part of header.split(",")) {
    const match = part.match(/<([^>]+)>\s*;\s*rel="?next"?/);
    if (match) return match[1];
  }
  return null;
}

// Server-sent events out of a text buffer: complete events and what is left over.
export function parseEvents(buffer) {
  const events = [];
  const blocks = buffer.replace(/\r\n/g, "\n").split("\n\n");
  const rest = blocks.pop();
  for (const block of blocks) {
    const event = { event: "message", data: "", id: null };
    const data = [];
    for (const line of block.split("\n")) {
      if (!line || line.startsWith(":")) continue;
      const at = line.indexOf(":");
      const field = at < 0 ? line : line.slice(0, at);
      const value = at < 0 ? "" : line.slice(at + 1).replace(/^ /, "");
      if (field === "event") event.event = value;
      else if (field === "data") data.push(value);
      else if (field === "id") event.id = value;
    }
    if (data.length) {
      event.data = data.join("\n");
      events.push(event);
    }
  }
  return { events, rest };
}

// The quota from X-RateLimit-* headers (a Headers-like object with get()).
export function quotaFrom(headers) {
  const limit = headers.get("X-RateLimit-Limit");
  if (limit === null) return null;
  const reset = Number(headers.get("X-RateLimit-Reset"));
  return { limit: Number(limit), remaining: Number(headers.get("X-RateLimit-Remaining")),
           reset: Number.isFinite(reset) ? new Date(reset * 1000) : null };
}

export function describeStatus(job) {
  if (job.status === "pending") {
    const position = job.queue_position;
    return position === null || position === undefined ? "Queued"
      : position === 0 ? "Queued: next to start" : `Queued: ${position} ahead`;
  }
  return { processing: "Identifying…", completed: "Done", failed: "Failed",
           canceled: "Canceled" }[job.status] || job.status;
}
