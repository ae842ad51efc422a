// Queue: a queue connection of its own, pulled with get, getNowait and a timeout.

import assert from "node:assert/strict";
import { test } from "node:test";

import { Empty, InvalidToken, Queue } from "../berrymq.js";
import { client, needsSite, pythonTwitter, sleep, unique } from "../support/livesite.js";

test("get and getNowait pull what Python twittered, oldest first; Empty when there is none", { skip: needsSite }, async () => {
  const js = client({ pollSeconds: 2 });
  const name = unique();
  const queue = new Queue(`${name}:*`, { client: js });
  await queue.ready;
  await assert.rejects(queue.getNowait(), Empty);
  await pythonTwitter(`${name}:job`, { count: 2 });
  const first = await queue.get({ timeout: 20 });
  assert.deepEqual([first.id, first.args], [`${name}:job`, [0]]);
  const second = await queue.getNowait();
  assert.deepEqual(second.args, [1]);
  await assert.rejects(queue.getNowait(), Empty);
  await js.close();
});

test("get waits past one long poll for a message that comes late", { skip: needsSite }, async () => {
  const js = client({ pollSeconds: 1 });
  const name = unique();
  const queue = new Queue(`${name}:job`, { client: js });
  await queue.ready;
  const waiting = queue.get({ timeout: 30 });
  await sleep(1500); // the message comes after the first long poll has ended empty
  await pythonTwitter(`${name}:job`, { args: ["late"] });
  assert.deepEqual((await waiting).args, [0, "late"]);
  await js.close();
});

test("get with a timeout rejects with Empty once the timeout has passed", { skip: needsSite }, async () => {
  const js = client({ pollSeconds: 2 });
  const queue = new Queue(`${unique()}:never`, { client: js });
  await queue.ready;
  const started = Date.now();
  await assert.rejects(queue.get({ timeout: 0.5 }), Empty);
  assert.ok(Date.now() - started >= 450, "get gave up before its timeout");
  await queue.close();
  await js.close();
});

test("two queues of one pattern each get their own copy", { skip: needsSite }, async () => {
  const js = client();
  const name = unique();
  const [q1, q2] = [new Queue(`${name}:*`, { client: js }), new Queue(`${name}:*`, { client: js })];
  await Promise.all([q1.ready, q2.ready]);
  await pythonTwitter(`${name}:copy`);
  assert.equal((await q1.get({ timeout: 20 })).uid, (await q2.get({ timeout: 20 })).uid);
  await js.close();
});

test("a queue the site forgot rejects once with InvalidToken, then keeps messages again", { skip: needsSite }, async () => {
  const js = client({ pollSeconds: 2 });
  const name = unique();
  const queue = new Queue(`${name}:*`, { client: js });
  await queue.ready;
  await js.call("close_connection", [await queue._token]); // as the site forgets an expired token
  await assert.rejects(queue.getNowait(), InvalidToken);
  await assert.rejects(queue.getNowait(), Empty); // connected again
  await pythonTwitter(`${name}:job`);
  assert.deepEqual((await queue.get({ timeout: 20 })).args, [0]);
  await js.close();
});
