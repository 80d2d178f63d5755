import { test } from "node:test";
import assert from "node:assert/strict";
import { barSpan, checkFiles, describeStatus, formatRange, nextLink, parseEvents, quotaFrom }
  from "../../deployments/web/logic.js";

const LIMITS = { max_files: 5, max_file_bytes: 10 * 1024 * 1024,
                 accepted: ["image/jpeg", "image/png", "image/webp"] };
const file = (name, type, size) => ({ name, type, size });

test("upload checks say what the server says", () => {
  assert.deepEqual(checkFiles([file("a.jpg", "image/jpeg", 100)], LIMITS), []);
  assert.deepEqual(checkFiles([], LIMITS),
    ["Attach 1 to 5 photos in the multipart field `image_files`."]);
  const six = Array.from({ length: 6 }, (_, i) => file(`${i}.jpg`, "image/jpeg", 10));
  assert.match(checkFiles(six, LIMITS)[0], /^Too many photos: 6\. Send at most 5 per job\.$/);
  assert.deepEqual(checkFiles([file("a.gif", "image/gif", 10)], LIMITS),
    ["File 'a.gif' has content type 'image/gif'; accepted: image/jpeg, image/png, image/webp."]);
  assert.match(checkFiles([file("big.jpg", "image/jpeg", 11 * 1024 * 1024)], LIMITS)[0],
    /is 11534336 bytes; the limit is 10485760 bytes\.$/);
  assert.deepEqual(checkFiles([file("e.png", "image/png", 0)], LIMITS), ["File 'e.png' is empty."]);
});

test("ranges read as a paleontologist writes them", () => {
  assert.equal(formatRange({ first_ma: 409, last_ma: 66, periods: ["Devonian", "Carboniferous", "Cretaceous"] }),
    "409–66 Ma (Devonian to Cretaceous)");
  assert.equal(formatRange({ first_ma: 495, last_ma: 0, periods: ["Cambrian", "Quaternary"] }),
    "495 Ma – today (Cambrian to Quaternary)");
  assert.equal(formatRange({ first_ma: 150, last_ma: 145, periods: ["Jurassic"] }),
    "150–145 Ma (Jurassic)");
  assert.equal(formatRange(null), "");
});

test("the time bar puts the oldest at the left", () => {
  assert.deepEqual(barSpan(538.8, 0), { left: 0, width: 100 });
  const kpg = barSpan(66, 0);
  assert.ok(kpg.left > 87 && kpg.left < 88 && Math.abs(kpg.left + kpg.width - 100) < 0.01);
  assert.ok(barSpan(2000, 1000).width >= 0.6);  // clamped, still visible
});

test("paging, events, quota and status", () => {
  assert.equal(nextLink('</jobs?limit=10&cursor=abc>; rel="next"'), "/jobs?limit=10&cursor=abc");
  assert.equal(nextLink(null), null);
  const { events, rest } = parseEvents('id: 1\nevent: status\ndata: {"a":1}\n\n: keep-alive\n\nid: 2\ndata: {"b"');
  assert.deepEqual(events, [{ event: "status", data: '{"a":1}', id: "1" }]);
  assert.equal(rest, 'id: 2\ndata: {"b"');
  const headers = new Map([["X-RateLimit-Limit", "10"], ["X-RateLimit-Remaining", "7"],
                           ["X-RateLimit-Reset", "1767225600"]]);
  const quota = quotaFrom({ get: (k) => headers.get(k) ?? null });
  assert.equal(quota.remaining, 7);
  assert.equal(quota.reset.toISOString(), "2026-01-01T00:00:00.000Z");
  assert.equal(describeStatus({ status: "pending", queue_position: 3 }), "Queued: 3 ahead");
  assert.equal(describeStatus({ status: "processing" }), "Identifying…");
});
