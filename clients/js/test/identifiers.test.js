// Identifiers and arguments, checked in the client before anything is sent (no site needed).

import assert from "node:assert/strict";
import { test } from "node:test";

import { Client, kwargs, matches, parseIdentifier } from "../berrymq.js";

test("identifiers parse as the site parses them", () => {
  assert.deepEqual(parseIdentifier("order:created"), { name: "order", action: "created", namespace: null, text: "order:created" });
  assert.deepEqual(parseIdentifier("order"), { name: "order", action: "*", namespace: null, text: "order:*" });
  assert.equal(parseIdentifier("order@eu:created").namespace, "eu");
});

test("malformed identifiers are a TypeError naming them", () => {
  for (const [bad, why] of [["", /empty/], ["a b", /whitespace/], ["a:b:c", /more than one ':'/], [":x", /name is empty/], ["a:", /action/], ["a@:x", /namespace/], [42, /not number 42/]]) {
    assert.throws(() => parseIdentifier(bad), (error) => error instanceof TypeError && why.test(error.message), String(bad));
  }
});

test("a wildcard on either side matches; namespaces never cross", () => {
  assert.ok(matches("order:*", "order:created"));
  assert.ok(matches("order:created", "*:created"));
  assert.ok(matches("*:*", "a:b"));
  assert.ok(!matches("order:created", "order:paid"));
  assert.ok(!matches("order:*", "order@eu:created"));
});

test("twitter refuses local identifiers, bad kwargs and arguments JSON cannot carry", () => {
  const client = new Client({ url: "http://127.0.0.1:9/berrymq/rpc/", apiKey: "k" });
  assert.throws(() => client.twitter("_cache:flush"), /local/);
  assert.throws(() => client.twitter("a b"), /whitespace/);
  assert.throws(() => client.twitter("app:log", 1n), /not JSON/);
  assert.throws(() => kwargs([1]), /plain object/);
  assert.throws(() => client.following("app:*", "not a function"), /must be a function/);
});

test("connect options are checked, naming the bad value", () => {
  assert.throws(() => new Client({}), /needs url/);
  assert.throws(() => new Client({ url: "/relative/" }), /must be absolute/);
  assert.throws(() => new Client({ url: "ftp://h/berrymq/rpc/" }), /"ftp:\/\/h\/berrymq\/rpc\/" is not an http\(s\) URL/);
  assert.throws(() => new Client({ url: "file:///tmp/x" }), /not an http\(s\) URL/);
  assert.throws(() => new Client({ url: "http://h/", apiKey: "" }), /apiKey/);
  assert.throws(() => new Client({ url: "http://h/", pollSeconds: -1 }), /pollSeconds/);
});
