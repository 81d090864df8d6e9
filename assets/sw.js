// Cloakroom's service worker: keeps the app itself (HTML, script, wasm, styles) available
// offline, so a room can be opened and its cached history read without a network.
// It never touches the API or the room sockets, and it never sees message content:
// decrypted messages live in IndexedDB, which the app reads itself.
const CACHE = "cloakroom-shell-v1";

// On install, cache the app shell and the assets it names (their names are only known
// from index.html, which Trunk writes with content hashes), among them the parts of the
// app fetched on first use (`<link rel="x-lazy-part">`, scripts/split-wasm), so those
// work offline too.
self.addEventListener("install", (event) => {
  // The API bypasses this worker entirely (Static Routing API, where the browser has it):
  // a request this worker intercepts has its body copied into it, and uploads send
  // gigabytes of encrypted chunks. Browsers without it still skip the API in "fetch", and
  // the chunks themselves go out from /transfer/chunk-sender.js, which no service worker
  // sees (src/net/chunk_sender.rs).
  const routed = event.addRoutes
    ? Promise.resolve(event.addRoutes([
        { condition: { urlPattern: new URLPattern({ pathname: "/api/*" }) }, source: "network" },
      ])).catch(() => undefined)
    : Promise.resolve();
  event.waitUntil(routed.then(() =>
    fetch("/", { cache: "no-store" })
      .then((response) => response.text())
      .then((html) => {
        const assets = [...html.matchAll(/(?:href|src)="(\/[^"]+)"/g)].map((m) => m[1]);
        return caches.open(CACHE).then((cache) => cache.addAll(["/", ...new Set(assets)]));
      })
      .catch(() => undefined)
      .then(() => self.skipWaiting())),
  );
});

self.addEventListener("activate", (event) => {
  event.waitUntil(
    caches.keys()
      .then((names) => Promise.all(names.filter((n) => n !== CACHE).map((n) => caches.delete(n))))
      .then(() => self.clients.claim()),
  );
});

self.addEventListener("fetch", (event) => {
  const request = event.request;
  const url = new URL(request.url);
  if (request.method !== "GET" || url.origin !== self.location.origin) return;
  if (url.pathname.startsWith("/api/") || url.pathname.startsWith("/ws/")) return;
  // The chunk sender and its fetch-less service worker (transfer/sw.js): always the newest.
  if (url.pathname.startsWith("/transfer/")) return;

  if (request.mode === "navigate") {
    // Pages: the network first (always the newest app), the cached shell when offline.
    // Every route is the same single page, so one cached copy serves them all; only an
    // HTML page may become that copy (opening /sw.js or the icon in a tab must not).
    event.respondWith(
      fetch(request)
        .then((response) => {
          const html = (response.headers.get("content-type") || "").startsWith("text/html");
          if (response.ok && html) {
            const copy = response.clone();
            caches.open(CACHE).then((cache) => cache.put("/", copy));
          }
          return response;
        })
        .catch(() => caches.match("/")),
    );
    return;
  }

  // Assets have content hashes in their names: the cache first, then the network.
  event.respondWith(
    caches.match(request).then((hit) =>
      hit ||
      fetch(request).then((response) => {
        if (response.ok) {
          const copy = response.clone();
          caches.open(CACHE).then((cache) => cache.put(request, copy));
        }
        return response;
      })
    ),
  );
});
