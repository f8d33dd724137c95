// The seed's "Client-Side Usage" logic, as written there, in Node.js 20 (global fetch).
//
// An app that makes several calls at once, each one exactly the seed's apiCall(): on a 401,
// refresh the token, then retry the original request once; if anything throws, "redirect to
// /login". There is no single-flight: with a rotating server, concurrent 401s send the SAME
// refresh token several times, the server sees a replay, revokes the whole family, and the
// user is logged out by their own client. `tokenconform client-check -- node seed-fetch.js`
// shows it (CLI-01).
//
// client-check workload contract (environment): TOKENCONFORM_URL, TOKENCONFORM_USERNAME,
// TOKENCONFORM_PASSWORD, TOKENCONFORM_ROUNDS rounds of TOKENCONFORM_CONCURRENCY calls in flight at
// once to TOKENCONFORM_PROTECTED_PATH. Exit 0 done, 3 the session ended (login required).
"use strict";

const BASE = process.env.TOKENCONFORM_URL;
const ROUNDS = Number(process.env.TOKENCONFORM_ROUNDS || 3);
const CONCURRENCY = Number(process.env.TOKENCONFORM_CONCURRENCY || 4);
const PROTECTED = process.env.TOKENCONFORM_PROTECTED_PATH || "/profile";

let accessToken = null;
let refreshTokenValue = null;
let loginRequired = false;

async function login() {
  const response = await fetch(`${BASE}/login`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({
      email: process.env.TOKENCONFORM_USERNAME,
      password: process.env.TOKENCONFORM_PASSWORD,
    }),
  });
  if (!response.ok) throw new Error(`login failed: ${response.status}`);
  const body = await response.json();
  accessToken = body.accessToken;
  refreshTokenValue = body.refreshToken;
}

// The seed calls refreshToken() and then uses `newAccessToken`; this is that function.
async function refreshToken() {
  const response = await fetch(`${BASE}/refresh`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ refreshToken: refreshTokenValue }),
  });
  if (!response.ok) throw new Error(`refresh failed: ${response.status}`);
  const body = await response.json();
  accessToken = body.accessToken;
  if (body.refreshToken) refreshTokenValue = body.refreshToken;
}

// Making API calls with automatic token refresh (the seed's apiCall, unchanged in substance)
const apiCall = async () => {
  try {
    // Try with current access token
    const response = await fetch(`${BASE}${PROTECTED}`, {
      headers: { Authorization: `Bearer ${accessToken}` },
    });

    if (response.status === 401) {
      // Access token expired, refresh it
      await refreshToken();

      // Retry original request
      return fetch(`${BASE}${PROTECTED}`, {
        headers: { Authorization: `Bearer ${accessToken}` },
      });
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
    // Several calls in flight at once, as any app makes them (a page loading its widgets).
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
