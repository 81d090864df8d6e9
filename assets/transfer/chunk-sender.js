// Sends the app's file chunks (PUT /api/uploads/…) for the page, as a dedicated worker
// under /transfer/, where no service worker sees the requests (see transfer/sw.js and
// src/net/chunk_sender.rs). The page posts {id, url, headers, body}; the answer is
// {id, status, body} from the server, or {id, error} when the request did not get there.
self.onmessage = async (event) => {
  const { id, url, headers, body } = event.data;
  if (typeof url !== "string" || !url.startsWith("/api/uploads/")) {
    self.postMessage({ id, error: "not a chunk upload" });
    return;
  }
  try {
    const response = await fetch(url, { method: "PUT", headers, body });
    self.postMessage({ id, status: response.status, body: await response.text() });
  } catch (error) {
    self.postMessage({ id, error: String(error) });
  }
};
