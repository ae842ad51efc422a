// Errors as classes: a bad key, a site that is down, an unknown token, a refused call.

import assert from "node:assert/strict";
import { test } from "node:test";

import { AuthenticationError, BerryMQError, Client, InvalidToken, Queue, RemoteError, Unavailable, close, connect, twitter } from "../berrymq.js";
import { API_KEY, URL, client, deadURL, needsSite, unique } from "../support/livesite.js";

test("a bad key is an AuthenticationError, for calls and for flush", { skip: needsSite }, async () => {
  const js = client({ apiKey: "not-a-key-of-this-site" });
  await assert.rejects(js.talk("price:quote", "price:quoted", ["SKU-1"]), (error) => {
    assert.ok(error instanceof AuthenticationError && error instanceof BerryMQError);
    assert.equal(error.status, 401);
    assert.equal(error.code, -32004);
    return true;
  });
  const sent = js.twitter(`${unique()}:refused`, 1);
  await assert.rejects(js.flush(), (error) => error instanceof AuthenticationError && error.messages[0] === sent);
  assert.ok(js.errors.some((error) => error instanceof AuthenticationError), "onError was not told");
  await js.close();
});

test("a site that is down is Unavailable, after retries where they are safe", { skip: needsSite }, async () => {
  const js = new Client({ url: await deadURL(), apiKey: API_KEY, sendTimeout: 1, requestTimeout: 1, onError: () => {} });
  await assert.rejects(js.talk("price:quote", "price:quoted", ["SKU-1"]), Unavailable);
  js.twitter(`${unique()}:lost`, 1);
  await assert.rejects(js.flush(), (error) => error instanceof Unavailable && /Cannot reach/.test(error.message));
  await assert.rejects(new Queue("job:*", { client: js }).ready, Unavailable);
  await js.close();
});

test("an unknown token is InvalidToken; other JSON-RPC errors are RemoteError with code and data", { skip: needsSite }, async () => {
  const js = client();
  await assert.rejects(js.call("get_nowait", ["no-such-token"]), InvalidToken);
  await assert.rejects(js.call("connect_oneway", [-1]), (error) => error instanceof RemoteError && error.code === -32602 && /ttl/.test(error.message));
  const token = await js.call("connect_oneway", [60]);
  await assert.rejects(js.call("send_messages", [token, [{ id: "ok:fine" }, { id: "bad id" }]]), (error) => error.data?.index === 1);
  await js.close();
  await assert.rejects(js.call("status"), /closed/);
});

test("the module's functions use the client connect() made", { skip: needsSite }, async () => {
  assert.throws(() => twitter("a:b"), /call connect/);
  const made = connect({ url: URL, apiKey: API_KEY, onError: () => {} });
  assert.ok(made instanceof Client);
  twitter(`${unique()}:module`, 1);
  await close();
  assert.throws(() => twitter("a:b"), /call connect/);
});

test("a url that is not the endpoint says so", { skip: needsSite }, async () => {
  const js = client({ url: URL.replace("/berrymq/rpc/", "/nowhere/") });
  await assert.rejects(js.call("status"), (error) => error instanceof BerryMQError && error.status === 404 && /berryMQ endpoint/.test(error.message));
  await js.close();
});
