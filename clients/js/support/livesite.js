// What the tests share: the live site they run against, and waiting with a deadline.
//
// tests/clients/test_js.py starts a site and runs `node --test` with:
//   BERRYMQ_TEST_URL      the site's endpoint, e.g. http://127.0.0.1:8123/berrymq/rpc/
//   BERRYMQ_TEST_API_KEY  a key of its BERRYMQ["API_KEYS"]
//   BERRYMQ_TEST_SITE     the site's base URL: POST /send/ twitters in Python there,
//                         GET /received/?id=... lists what its Python "*:*" follower got
// Without them the tests that need the site are skipped.

import { randomUUID } from "node:crypto";
import { createServer } from "node:net";
import { setTimeout as sleep } from "node:timers/promises";

import { Client } from "../berrymq.js";

export const URL = process.env.BERRYMQ_TEST_URL;
export const API_KEY = process.env.BERRYMQ_TEST_API_KEY;
export const SITE = process.env.BERRYMQ_TEST_SITE;
export const needsSite = URL && API_KEY && SITE ? false : "no live site: set BERRYMQ_TEST_URL, BERRYMQ_TEST_API_KEY and BERRYMQ_TEST_SITE";

/** A name no other test uses, for identifiers ("t1a2b3c4:hello"). */
export function unique(prefix = "t") {
  return `${prefix}${randomUUID().slice(0, 8)}`;
}

/** A client of the test site; errors in the background are collected in client.errors. */
export function client(options = {}) {
  const errors = [];
  const made = new Client({ url: URL, apiKey: API_KEY, onError: (error) => errors.push(error), ...options });
  made.errors = errors;
  return made;
}

/** Twitter in Python on the site: id(i, ...args, **kwargs) for i in 0..count-1. */
export async function pythonTwitter(id, { count = 1, args = [], kwargs = {} } = {}) {
  const response = await fetch(`${SITE}/send/`, { method: "POST", body: JSON.stringify({ id, count, args, kwargs }) });
  if (!response.ok) throw new Error(`POST /send/ answered ${response.status}: ${await response.text()}`);
}

/** What the site's Python "*:*" follower got with identifier id, oldest first. */
export async function pythonReceived(id) {
  const response = await fetch(`${SITE}/received/?id=${encodeURIComponent(id)}`);
  return (await response.json()).received;
}

/** Call probe until until(value) holds and return the value; fail after timeout seconds. */
export async function eventually(probe, until = Boolean, { timeout = 20, what = String(probe) } = {}) {
  const deadline = Date.now() + timeout * 1000;
  let last;
  for (;;) {
    last = await probe();
    if (until(last)) return last;
    if (Date.now() > deadline) throw new Error(`waited ${timeout} s for ${what}; last saw ${JSON.stringify(last)}`);
    await sleep(50);
  }
}

/** Resolve to a loopback URL where nothing listens (a port just freed). */
export async function deadURL() {
  const server = createServer();
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address();
  await new Promise((resolve) => server.close(resolve));
  return `http://127.0.0.1:${port}/berrymq/rpc/`;
}

// Showing that nothing *more* comes has no event to wait for: watch a while.
export const QUIET_MS = 500;
export { sleep };
