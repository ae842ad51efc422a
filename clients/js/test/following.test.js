// following: one long-poll loop delivers what Python (and this client) twitter.

import assert from "node:assert/strict";
import { test } from "node:test";

import { InvalidToken } from "../berrymq.js";
import { QUIET_MS, client, eventually, needsSite, pythonTwitter, sleep, unique } from "../support/livesite.js";

test("following receives messages twittered in Python, each once", { skip: needsSite }, async () => {
  const js = client({ pollSeconds: 5 });
  const name = unique();
  const got = [];
  const follower = js.following(`${name}:*`, (message) => got.push(message));
  await follower.ready;
  await pythonTwitter(`${name}:created`, { count: 3, args: ["x"], kwargs: { k: 1 } });
  await eventually(() => got.length, (n) => n >= 3, { what: "3 messages" });
  await sleep(QUIET_MS);
  assert.deepEqual(got.map((m) => [m.id, m.args, m.kwargs]), [0, 1, 2].map((i) => [`${name}:created`, [i, "x"], { k: 1 }]));
  assert.equal(got[0].origin, "clients-site");
  await js.close();
  assert.deepEqual(js.errors, []);
});

test("several patterns share one queue connection; each follower gets only its matches", { skip: needsSite }, async () => {
  const js = client({ pollSeconds: 5 });
  const [a, b] = [unique("a"), unique("b")];
  const gotA = [];
  const gotB = [];
  const gotAll = [];
  await js.following(`${a}:created`, (m) => gotA.push(m.id)).ready;
  await js.following(`${b}:paid`, (m) => gotB.push(m.id)).ready; // widens the queue to *:*
  await js.following(`${a}:*`, async (m) => gotAll.push(m.id)).ready;
  const status = await js.status();
  assert.equal(status.connections_by_style.queue >= 1, true);
  await pythonTwitter(`${a}:created`);
  await pythonTwitter(`${a}:deleted`);
  await pythonTwitter(`${b}:paid`);
  await pythonTwitter(`${b}:refunded`);
  await eventually(() => gotA.length + gotB.length + gotAll.length, (n) => n >= 4);
  await sleep(QUIET_MS);
  assert.deepEqual(gotA, [`${a}:created`]);
  assert.deepEqual(gotB, [`${b}:paid`]);
  assert.deepEqual(gotAll, [`${a}:created`, `${a}:deleted`]);
  await js.close();
  assert.deepEqual(js.errors, []);
});

test("a follower receives what its own client twittered, once; a throwing follower goes to onError", { skip: needsSite }, async () => {
  const js = client({ pollSeconds: 5 });
  const name = unique();
  const got = [];
  js.following(`${name}:*`, () => {
    throw new Error("follower failed");
  });
  await js.following(`${name}:echo`, (m) => got.push(m.args)).ready;
  js.twitter(`${name}:echo`, "round trip");
  await eventually(() => got.length, (n) => n >= 1);
  await sleep(QUIET_MS);
  assert.deepEqual(got, [["round trip"]]);
  assert.deepEqual(js.errors.map((e) => e.message), ["follower failed"]);
  await js.close();
});

test("unfollow stops a follower", { skip: needsSite }, async () => {
  const js = client({ pollSeconds: 5 });
  const name = unique();
  const kept = [];
  const dropped = [];
  await js.following(`${name}:*`, (m) => kept.push(m.args[0])).ready;
  const gone = js.following(`${name}:x`, (m) => dropped.push(m.args[0]));
  await gone.ready;
  gone.unfollow();
  await pythonTwitter(`${name}:x`);
  await eventually(() => kept.length, (n) => n >= 1);
  assert.deepEqual(dropped, []);
  await js.close();
});

test("a follower loop whose queue connection the site forgot connects again, says so, and goes on", { skip: needsSite }, async () => {
  const tokens = [];
  const watching = async (url, init) => {
    const response = await fetch(url, init);
    if (JSON.parse(init.body).method === "connect_via_queue") tokens.push((await response.clone().json()).result);
    return response;
  };
  const js = client({ fetch: watching, pollSeconds: 1 });
  const name = unique();
  const got = [];
  await js.following(`${name}:*`, (m) => got.push(m.args[0])).ready;
  await js.call("close_connection", [tokens[0]]); // as the site forgets an expired token, or restarts
  // The site opened the new connection before it answered: from then on it keeps messages.
  await eventually(() => tokens.length, (n) => n >= 2, { what: "the loop to connect again" });
  assert.ok(js.errors.some((error) => error instanceof InvalidToken && /messages may have been missed/.test(error.message)), String(js.errors));
  await pythonTwitter(`${name}:after`);
  await eventually(() => got.length, (n) => n >= 1, { what: "the message after reconnecting" });
  assert.deepEqual(got, [0]);
  await js.close();
});
