// talk: the site's Python followers answer.

import assert from "node:assert/strict";
import { test } from "node:test";

import { Queue } from "../berrymq.js";
import { client, needsSite } from "../support/livesite.js";

test("talk resolves to the Python follower's answer, also sent to the reply identifier", { skip: needsSite }, async () => {
  const js = client();
  const replies = new Queue("price:quoted", { client: js });
  await replies.ready;
  const results = await js.talk("price:quote", "price:quoted", ["SKU-1"], { kwargs: { currency: "JPY" }, timeout: 20 });
  const answer = { sku: "SKU-1", price: 9.9, currency: "JPY" };
  // The site's "*:*" recorder follows price:quote too, and answers null.
  assert.deepEqual(results.filter((r) => r !== null), [answer]);
  const replied = [];
  for (;;) {
    const message = await replies.get({ timeout: 10 });
    if (message.args[0] !== null) {
      replied.push(message.args[0]);
      break;
    }
  }
  assert.deepEqual(replied, [answer]);
  await js.close();
});

test("talk's bad input is a TypeError naming it", { skip: needsSite }, async () => {
  const js = client();
  await assert.rejects(js.talk("price:quote", "price:quoted", "SKU-1"), /args must be an array/);
  await assert.rejects(js.talk("price:quote", "_local:reply"), /local/);
  await js.close();
});
