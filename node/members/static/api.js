// The page's only way to the node: the public JSON API on this origin, and
// what the node wrote into the page itself (NODE: its name, key, areas,
// categories and every limit its forms apply, from the declarations the API
// reads requests with; node/members/pagedata.py). The page keeps no copy of
// a limit, a list or a category name: it reads them here.
// Errors come back in the API's one shape and are thrown as ApiError.
import { getLang } from "./i18n.js?v=__V__";

export const NODE = readNodeData();

function readNodeData() {
  const empty = { name: "", categories: [], forms: {}, urgencies: [], flag_reasons: [], statuses: [], final_statuses: [], report: {} };
  const el = document.getElementById("node-data");
  try {
    return { ...empty, ...JSON.parse(el.textContent) };
  } catch {
    return empty; // not this node's page: the API still answers
  }
}

// The rules of one field of one form, as the node declares them:
// {maxLength, pattern, enum, maxItems, required, ...}; {} for an unknown one.
export function rule(form, name) {
  return (NODE.forms[form] || {})[name] || {};
}

// A field's pattern as a RegExp (JSON Schema patterns are ECMA-262 regular
// expressions); one that matches anything when the node declares none.
export function patternOf(spec) {
  return spec && spec.pattern ? new RegExp(spec.pattern, "u") : /^/;
}

export const CATEGORY_SLUGS = NODE.categories.map((c) => c.slug);

// A category's name in the page's language, from the node's list; a slug
// the list does not have (a peer's) is shown as it is.
export function categoryName(slug) {
  const found = NODE.categories.find((c) => c.slug === slug);
  return (found && (found.names[getLang()] || found.names.en)) || String(slug || "");
}

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
    if (typeof err.field === "string") error.field = err.field; // the request field at fault, if one
    const wait = Number(response.headers.get("Retry-After"));
    if (Number.isInteger(wait) && wait > 0) error.retryAfter = wait; // seconds, on a 429
    throw error;
  }
  return data;
}
