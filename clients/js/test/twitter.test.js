// twitter: batches reach the site's Python follower exactly once, retries included.

import assert from "node:assert/strict";
import { test } from "node:test";

import { kwargs } from "../berrymq.js";
import { QUIET_MS, client, eventually, needsSite, pythonReceived, sleep, unique } from "../support/livesite.js";

test("twitter reaches a Python follower exactly once, with args, kwargs and origin", { skip: needsSite }, async () => {
  const js = client({ name: "js-twitter-test" });
  const id = `${unique()}:hello`;
  const sent = js.twitter(id, "world", { nested: [1, 2] }, kwargs({ level: "info" }));
  assert.match(sent.uid, /^[0-9a-f-]{36}$/);
  await js.flush();
  const got = await eventually(() => pythonReceived(id), (items) => items.length >= 1, { what: `${id} at the site` });
  await sleep(QUIET_MS);
  assert.deepEqual(await pythonReceived(id), got, "a second copy arrived");
  assert.equal(got.length, 1);
  assert.deepEqual(got[0], { id, uid: sent.uid, origin: "js-twitter-test", args: ["world", { nested: [1, 2] }], kwargs: { level: "info" } });
  await js.close();
  assert.deepEqual(js.errors, []);
});

test("many twitters go in batches, each message once", { skip: needsSite }, async () => {
  const calls = [];
  const counting = (url, init) => {
    calls.push(JSON.parse(init.body).method);
    return fetch(url, init);
  };
  const js = client({ fetch: counting, batchSize: 100 });
  const id = `${unique()}:many`;
  for (let i = 0; i < 250; i++) js.twitter(id, i);
  await js.flush();
  assert.deepEqual(calls, ["connect_oneway", "send_messages", "send_messages", "send_messages"]);
  const got = await eventually(() => pythonReceived(id), (items) => items.length >= 250);
  assert.deepEqual(got.map((m) => m.args[0]), [...Array(250).keys()]);
  await js.close();
});

test("a batch past the site's body limit is sent in halves, each message once", { skip: needsSite }, async () => {
  const js = client();
  const id = `${unique()}:big`;
  const blob = "x".repeat(15_000); // 300 of them: 4.5 MB, past MAX_BODY_BYTES (4 MiB)
  for (let i = 0; i < 300; i++) js.twitter(id, i, blob);
  await js.flush();
  const got = await eventually(() => pythonReceived(id), (items) => items.length >= 300, { what: `300 ${id}` });
  await sleep(QUIET_MS);
  assert.deepEqual((await pythonReceived(id)).map((m) => m.args[0]), [...Array(300).keys()]);
  assert.equal(got.length, 300);
  await js.close();
  assert.deepEqual(js.errors, []);
});

test("a batch resent after a lost answer is a duplicate at the site, not a second delivery", { skip: needsSite }, async () => {
  let lost = 0;
  // The site gets the first send_messages and answers; the answer is lost on the way back.
  const losing = async (url, init) => {
    const response = await fetch(url, init);
    if (JSON.parse(init.body).method === "send_messages" && lost++ === 0) {
      await response.text();
      throw new TypeError("fetch failed", { cause: { code: "ECONNRESET" } });
    }
    return response;
  };
  const js = client({ fetch: losing });
  const id = `${unique()}:retried`;
  js.twitter(id, "once");
  await js.flush();
  assert.equal(lost, 2, "the batch was sent twice");
  await eventually(() => pythonReceived(id), (items) => items.length >= 1);
  await sleep(QUIET_MS);
  assert.equal((await pythonReceived(id)).length, 1);
  await js.close();
});

test("close() flushes what was twittered just before it", { skip: needsSite }, async () => {
  const js = client();
  const id = `${unique()}:closing`;
  for (let i = 0; i < 20; i++) js.twitter(id, i);
  await js.close();
  const got = await pythonReceived(id);
  assert.deepEqual(got.map((m) => m.args[0]), [...Array(20).keys()], "close() resolved before all were accepted");
  assert.throws(() => js.twitter(id, 99), /closed/);
});
