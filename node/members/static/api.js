// The page's only way to the node: the public JSON API on this origin.
// Errors come back in the API's one shape and are thrown as ApiError.

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

export async function api(method, path, { body, token, query } = {}) {
  let url = `/api/v1${path}`;
  if (query) {
    const params = new URLSearchParams();
    for (const [k, v] of Object.entries(query)) {
      for (const one of Array.isArray(v) ? v : [v]) if (one !== "" && one !== null && one !== undefined) params.append(k, one);
    }
    const text = params.toString();
    if (text) url += `?${text}`;
  }
  const headers = { Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (token) headers.Authorization = `Bearer ${token}`;
  let response;
  try {
    response = await fetch(url, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: "same-origin",
      referrerPolicy: "no-referrer",
      cache: "no-store",
    });
  } catch {
    throw new ApiError(0, "network", "network");
  }
  let data = null;
  try {
    data = await response.json();
  } catch {
    data = null;
  }
  if (!response.ok) {
    const err = (data && data.error) || {};
    const error = new ApiError(response.status, err.code || "http_error", err.message || `HTTP ${response.status}`);
    const wait = Number(response.headers.get("Retry-After"));
    if (Number.isInteger(wait) && wait > 0) error.retryAfter = wait; // seconds, on a 429
    throw error;
  }
  return data;
}

// The node's name and areas, fetched once per page load.
let nodeInfo = null;
export function node() {
  if (!nodeInfo) {
    nodeInfo = (async () => {
      const info = await api("GET", "/node");
      if (!Array.isArray(info.areas)) {
        // Older nodes: the areas are in the node's own signed profile.
        try {
          const found = await api("GET", "/records", { query: { kind: "node", limit: 100 } });
          const mine = found.records.find((r) => r.author === info.public_key);
          info.areas = mine && Array.isArray(mine.areas) ? mine.areas : [];
        } catch {
          info.areas = [];
        }
      }
      return info;
    })().catch((err) => {
      nodeInfo = null;
      throw err;
    });
  }
  return nodeInfo;
}
