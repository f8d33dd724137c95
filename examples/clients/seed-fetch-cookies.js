// The seed's "Client-Side Usage" logic as a browser runs it against cookie delivery, in Node.js 20.
//
// The same apiCall() as seed-fetch.js, but the tokens live in HttpOnly cookies: the page never
// sees them, every fetch goes out with `credentials: "include"`, and the refresh is a bodiless
// POST that the refresh cookie authenticates. Node's fetch keeps no cookies, so a small jar below
// stands in for the browser's (it honours Path and Max-Age, and keeps Secure cookies over
// http://127.0.0.1 as browsers do for loopback). Cookies do not fix the missing single-flight:
// concurrent 401s still POST /refresh at once with the SAME refresh cookie, the server sees a
// replay, revokes the family, and the user is logged out.
// `tokenconform client-check --delivery cookie -- node seed-fetch-cookies.js` shows it (CLI-01).
//
// client-check workload contract (environment): TOKENCONFORM_URL, TOKENCONFORM_USERNAME,
// TOKENCONFORM_PASSWORD, TOKENCONFORM_ROUNDS rounds of TOKENCONFORM_CONCURRENCY calls in flight at
// once to TOKENCONFORM_PROTECTED_PATH. Exit 0 done, 3 the session ended (login required).
"use strict";

const BASE = process.env.TOKENCONFORM_URL;
const ROUNDS = Number(process.env.TOKENCONFORM_ROUNDS || 3);
const CONCURRENCY = Number(process.env.TOKENCONFORM_CONCURRENCY || 4);
const PROTECTED = process.env.TOKENCONFORM_PROTECTED_PATH || "/profile";

let loginRequired = false;

// ---------------------------------------------------------------- the browser's part

const jar = new Map(); // "name path" -> {name, value, path}

// RFC 6265 §5.1.4: the default-path of a cookie set without Path, and path-match.
function defaultPath(requestPath) {
  const slash = requestPath.lastIndexOf("/");
  return slash <= 0 ? "/" : requestPath.slice(0, slash);
}

function pathMatches(requestPath, cookiePath) {
  if (requestPath === cookiePath) return true;
  return (
    requestPath.startsWith(cookiePath) &&
    (cookiePath.endsWith("/") || requestPath[cookiePath.length] === "/")
  );
}

function keep(setCookie, requestPath) {
  const [nameValue, ...attributes] = setCookie.split(";");
  const eq = nameValue.indexOf("=");
  const name = nameValue.slice(0, eq).trim();
  const value = nameValue.slice(eq + 1).trim();
  let path = defaultPath(requestPath);
  let maxAge = null;
  for (const attribute of attributes) {
    const [key, argument = ""] = attribute.split("=", 2).map((part) => part.trim());
    if (key.toLowerCase() === "path" && argument.startsWith("/")) path = argument;
    if (key.toLowerCase() === "max-age" && /^-?\d+$/.test(argument)) maxAge = Number(argument);
  }
  if (maxAge !== null && maxAge <= 0) jar.delete(`${name} ${path}`);
  else jar.set(`${name} ${path}`, { name, value, path });
}

// fetch(url, {credentials: "include"}): the jar's cookies go out, Set-Cookie comes back in.
async function browserFetch(path, options = {}) {
  const cookies = [...jar.values()]
    .filter((cookie) => pathMatches(path, cookie.path))
    .sort((a, b) => b.path.length - a.path.length)
    .map((cookie) => `${cookie.name}=${cookie.value}`);
  const headers = { ...(options.headers || {}) };
  if (cookies.length) headers.Cookie = cookies.join("; ");
  const response = await fetch(`${BASE}${path}`, { ...options, headers });
  for (const line of response.headers.getSetCookie()) keep(line, path);
  return response;
}

// ---------------------------------------------------------------- the page's part (the seed's)

async function login() {
  const response = await browserFetch("/login", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({
      email: process.env.TOKENCONFORM_USERNAME,
      password: process.env.TOKENCONFORM_PASSWORD,
    }),
  });
  if (!response.ok) throw new Error(`login failed: ${response.status}`);
}

// The seed's refreshToken(), with the refresh token in its cookie instead of the body.
async function refreshToken() {
  const response = await browserFetch("/refresh", { method: "POST" });
  if (!response.ok) throw new Error(`refresh failed: ${response.status}`);
}

// Making API calls with automatic token refresh (the seed's apiCall, unchanged in substance)
const apiCall = async () => {
  try {
    const response = await browserFetch(PROTECTED);

    if (response.status === 401) {
      // Access token expired, refresh it
      await refreshToken();

      // Retry original request
      return browserFetch(PROTECTED);
    }

    return response;
  } catch (error) {
    // Refresh failed, redirect to login (window.location.href = '/login' in a browser)
    loginRequired = true;
    return null;
  }
};

async function main() {
  await login();
  for (let round = 0; round < ROUNDS && !loginRequired; round++) {
    const responses = await Promise.all(Array.from({ length: CONCURRENCY }, apiCall));
    const statuses = responses.map((r) => (r ? r.status : "login"));
    console.log(`round ${round + 1}: ${statuses.join(" ")}`);
  }
  if (loginRequired) {
    console.log("redirect to /login: the session ended");
    process.exit(3);
  }
}

main().catch((error) => {
  console.error(String(error));
  process.exit(1);
});
