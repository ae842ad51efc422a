// berryMQ for JavaScript: a client of a berrymq_django site's JSON-RPC endpoint.
//
// One ES module, no dependencies, for Node 20+ and browsers (fetch, AbortController).
//
//   import { connect, twitter, following, Queue, talk, close, kwargs } from "berrymq";
//   connect({ url: "http://127.0.0.1:8000/berrymq/rpc/", apiKey: process.env.BERRYMQ_API_KEY });
//   following("order:*", (message) => console.log(message.id, message.args));
//   twitter("app:log", "hello", kwargs({ level: "info" }));
//   const jobs = new Queue("task:*"); await jobs.get({ timeout: 5 });
//   await talk("price:quote", "price:quoted", ["SKU-1"]);
//   await close();
//
// Design, and the rules it keeps:
// * twitter() returns at once. Messages wait in a buffer and go in batches
//   (send_messages) on a oneway connection, one batch in flight at a time.
//   Each message carries a uid (a random UUID) and this client's name as its
//   origin: a batch retried after a lost answer is acknowledged by the site
//   as a duplicate, never delivered twice. flush() waits for the buffer;
//   close() flushes, then stops everything.
// * Followers share one long-poll loop over one queue connection (per
//   namespace). Its pattern is the narrowest one that covers every followed
//   pattern ("order:*" for "order:created" and "order:paid", "*:*" when the
//   names and the actions differ); messages that match no follower are
//   dropped here. Widening the pattern opens the new connection first and
//   drains the old one before closing it; a uid window drops the copies.
// * A Queue is a queue connection of its own: the site keeps a copy of each
//   matching message from the moment queue.ready resolves.
// * Transient failures (no answer, HTTP 429/502/503/504) are retried with
//   exponential backoff and jitter where retrying is safe: connecting,
//   sending (uids make it idempotent) and polling. talk() is not retried: its
//   followers may have run.

/** The base class of every error this module raises. */
export class BerryMQError extends Error {
  constructor(message, { code, data, status, cause } = {}) {
    super(message, cause === undefined ? undefined : { cause });
    this.name = new.target.name;
    this.code = code;
    this.data = data;
    this.status = status;
  }
}

/** The site refused the credentials: no or a wrong API key (401), or not allowed (403). */
export class AuthenticationError extends BerryMQError {}

/** The site does not know the token (expired after its ttl, closed, or the site restarted). */
export class InvalidToken extends BerryMQError {}

/** The site cannot be reached or answer now; retrying later may work. `retryAfter` in seconds. */
export class Unavailable extends BerryMQError {
  constructor(message, options = {}) {
    super(message, options);
    this.retryAfter = options.retryAfter;
  }
}

/** The site answered with a JSON-RPC error: `code`, `message` and `data` are the site's. */
export class RemoteError extends BerryMQError {}

/** A queue had no message: get() timed out, or getNowait() found none. */
export class Empty extends BerryMQError {}

// JSON-RPC error codes of the berryMQ endpoint.
const INVALID_TOKEN = -32000;
const TIMEOUT = -32001;
const LIMIT_EXCEEDED = -32010;
const FORBIDDEN = -32003;
const UNAUTHENTICATED = -32004;
const UNAVAILABLE = -32005;
const THROTTLED = -32029;
const TRANSIENT_STATUS = new Set([429, 502, 503, 504]);

const UID_WINDOW = 10000; // uids remembered by the follower loop, to drop copies
const CLOSE_CALL_SECONDS = 2; // how long close() gives each close_connection

// -- identifiers ------------------------------------------------------------

/**
 * Parse "name[@namespace][:action]" as the site does: {name, action, namespace, text}.
 * Throws TypeError naming the value when it is not a well-formed identifier.
 */
export function parseIdentifier(text) {
  if (typeof text !== "string") {
    throw new TypeError(`A berryMQ identifier must be a string like 'name:action', not ${describe(text)}.`);
  }
  const bad = (why) => new TypeError(`Invalid berryMQ identifier ${JSON.stringify(text)}: ${why}.`);
  if (!text) throw bad("it is empty; use 'name:action'");
  if (/\s/u.test(text)) throw bad("it contains whitespace");
  if (text.split(":").length > 2) throw bad("more than one ':'");
  if (text.split("@").length > 2) throw bad("more than one '@'");
  let [head, action] = text.split(":");
  if (action === undefined) action = "*";
  else if (!action) throw bad("the action after ':' is empty");
  else if (action.includes("@")) throw bad("the namespace goes before ':' as in 'name@namespace:action'");
  const [name, namespace] = head.split("@");
  if (!name) throw bad("the name is empty");
  if (namespace === "") throw bad("the namespace after '@' is empty");
  const ns = namespace === undefined ? null : namespace;
  return { name, action, namespace: ns, text: `${name}${ns === null ? "" : `@${ns}`}:${action}` };
}

/** Whether two identifiers select each other: '*' on either side matches, namespaces never cross. */
export function matches(a, b) {
  const x = typeof a === "string" ? parseIdentifier(a) : a;
  const y = typeof b === "string" ? parseIdentifier(b) : b;
  return (
    x.namespace === y.namespace &&
    (x.name === y.name || x.name === "*" || y.name === "*") &&
    (x.action === y.action || x.action === "*" || y.action === "*")
  );
}

function remoteIdentifier(text, what = "identifier") {
  const ident = parseIdentifier(text);
  if (ident.name.startsWith("_")) {
    throw new TypeError(
      `Invalid ${what} ${JSON.stringify(text)}: it is local (its name starts with '_'); local messages never cross processes.`,
    );
  }
  return ident;
}

// -- keyword arguments --------------------------------------------------------

class Kwargs {
  constructor(values) {
    this.values = values;
  }
}

/**
 * Mark an object as a message's keyword arguments, for twitter()'s last argument:
 * twitter("app:log", "hello", kwargs({ level: "info" })). A plain object is a positional argument.
 */
export function kwargs(values) {
  if (values === null || typeof values !== "object" || Array.isArray(values)) {
    throw new TypeError(`kwargs() takes a plain object of keyword arguments, not ${describe(values)}.`);
  }
  return new Kwargs({ ...values });
}

// -- helpers -----------------------------------------------------------------

function describe(value) {
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  if (typeof value === "string") return JSON.stringify(value);
  return typeof value === "object" ? "an object" : `${typeof value} ${String(value)}`;
}

function seconds(value, what, { allowZero = true } = {}) {
  if (typeof value !== "number" || Number.isNaN(value) || value < 0 || (!allowZero && value === 0)) {
    throw new TypeError(`${what} must be a number of seconds${allowZero ? " >= 0" : " > 0"}, not ${describe(value)}.`);
  }
  return value;
}

function randomUUID() {
  const c = globalThis.crypto;
  if (typeof c?.randomUUID === "function") return c.randomUUID();
  // Pages served over plain HTTP (not localhost) have getRandomValues but not randomUUID.
  const b = c.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const hex = Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

function backoff(attempt, retryAfter) {
  const delay = Math.min(5, 0.1 * 2 ** attempt) * (0.5 + Math.random() / 2);
  return Math.max(delay, Math.min(retryAfter ?? 0, 30));
}

function readCookie(name) {
  const cookies = globalThis.document?.cookie;
  if (typeof cookies !== "string") return undefined;
  for (const part of cookies.split(";")) {
    const [key, ...rest] = part.trim().split("=");
    if (key === name) return decodeURIComponent(rest.join("="));
  }
  return undefined;
}

function quiet(promise) {
  promise.catch(() => {}); // the rejection is the awaiter's to see; never an unhandled one
  return promise;
}

// -- the client ---------------------------------------------------------------

/**
 * A connection to one berryMQ site. Options (times in seconds):
 *   url             the endpoint, e.g. "http://127.0.0.1:8000/berrymq/rpc/" (relative in a browser)
 *   apiKey          a key of the site's BERRYMQ["API_KEYS"], sent as Authorization: Bearer
 *   csrfToken       in a browser with a staff session instead of a key (default: the csrftoken cookie)
 *   name            this client's node name, the origin of what it twitters (default "js-<random>")
 *   ttl             idle seconds after which the site forgets a connection (600)
 *   pollSeconds     how long one long poll waits (20; the site caps it at MAX_POLL_SECONDS)
 *   requestTimeout  seconds before a call without answer fails with Unavailable (30)
 *   sendTimeout     seconds a batch is retried before its messages are given up (60)
 *   batchSize       messages per send_messages call (500)
 *   onError(error)  told of what fails in the background: sends, polls, followers (console.error)
 *   fetch           a fetch implementation (the global one)
 */
export class Client {
  #url;
  #headers;
  #credentials;
  #fetch;
  #nextId = 0;
  #inflight = new Set();
  #stopping = new AbortController(); // aborted by close(): ends sleeps and polls
  #closing = false; // close() was called: no new twitters, followers or talks
  #shut = false; // close() flushed: no more calls, the loops end
  #closed = null; // close()'s promise
  #sendToken = null;
  #pending = [];
  #sending = null;
  #failures = [];
  #feeds = new Map(); // namespace -> Feed
  #queues = new Set();
  #seen = new Set();

  constructor(options = {}) {
    const { url, apiKey, csrfToken, name, fetch: fetchImpl } = options;
    if (typeof url !== "string" || !url) {
      throw new TypeError(`connect() needs url, the site's endpoint such as "http://host/berrymq/rpc/", not ${describe(url)}.`);
    }
    let parsed = null;
    try {
      parsed = new URL(url, globalThis.location?.href);
    } catch {
      throw new TypeError(`connect(): url ${JSON.stringify(url)} is not a URL; outside a browser it must be absolute.`);
    }
    if (parsed.protocol !== "http:" && parsed.protocol !== "https:") {
      throw new TypeError(`connect(): url ${JSON.stringify(url)} is not an http(s) URL.`);
    }
    this.#url = parsed.href;
    if (apiKey !== undefined && (typeof apiKey !== "string" || !apiKey)) {
      throw new TypeError(`connect(): apiKey must be a non-empty string, not ${describe(apiKey)}.`);
    }
    this.#headers = { "Content-Type": "application/json", Accept: "application/json" };
    if (apiKey) this.#headers.Authorization = `Bearer ${apiKey}`;
    const csrf = csrfToken ?? (apiKey ? undefined : readCookie("csrftoken"));
    if (csrf) this.#headers["X-CSRFToken"] = csrf;
    this.#credentials = apiKey ? "omit" : "same-origin";
    this.#fetch = fetchImpl ?? globalThis.fetch?.bind(globalThis);
    if (typeof this.#fetch !== "function") throw new TypeError("connect(): no fetch here; pass options.fetch.");
    this.name = name ?? `js-${randomUUID().slice(0, 13).replace("-", "")}`;
    if (typeof this.name !== "string" || !this.name || this.name.length > 200) {
      throw new TypeError(`connect(): name must be a string of 1 to 200 characters, not ${describe(name)}.`);
    }
    this.ttl = seconds(options.ttl ?? 600, "connect(): ttl", { allowZero: false });
    this.pollSeconds = seconds(options.pollSeconds ?? 20, "connect(): pollSeconds", { allowZero: false });
    this.requestTimeout = seconds(options.requestTimeout ?? 30, "connect(): requestTimeout", { allowZero: false });
    this.sendTimeout = seconds(options.sendTimeout ?? 60, "connect(): sendTimeout");
    this.batchSize = options.batchSize ?? 500;
    if (!Number.isInteger(this.batchSize) || this.batchSize < 1) {
      throw new TypeError(`connect(): batchSize must be a positive integer, not ${describe(options.batchSize)}.`);
    }
    this.onError = options.onError ?? ((error) => console.error("berryMQ:", error));
  }

  /** The endpoint's absolute URL. */
  get url() {
    return this.#url;
  }

  /** True once close() was called. */
  get closed() {
    return this.#closing;
  }

  // -- calls ------------------------------------------------------------------

  /**
   * Call a JSON-RPC method once and return its result. Rejects with AuthenticationError,
   * InvalidToken, Unavailable (no answer within timeout seconds, or a transient refusal),
   * Empty (code -32001) or RemoteError.
   */
  async call(method, params = [], { timeout = this.requestTimeout } = {}) {
    if (this.#shut) throw new BerryMQError(`The berryMQ client of ${this.#url} is closed.`);
    return this.#request(method, params, timeout);
  }

  async #request(method, params, timeout) {
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), timeout * 1000);
    this.#inflight.add(controller);
    const body = JSON.stringify({ jsonrpc: "2.0", id: ++this.#nextId, method, params });
    let response;
    let text;
    try {
      response = await this.#fetch(this.#url, {
        method: "POST",
        headers: this.#headers,
        body,
        credentials: this.#credentials,
        signal: controller.signal,
      });
      text = await response.text();
    } catch (error) {
      if (this.#shut) throw new BerryMQError(`The berryMQ client of ${this.#url} was closed during ${method}.`);
      if (controller.signal.aborted) {
        throw new Unavailable(`${this.#url} did not answer ${method} within ${timeout} s.`, { cause: error });
      }
      const why = error?.cause?.code ?? error?.cause?.message ?? error?.message ?? String(error);
      throw new Unavailable(`Cannot reach ${this.#url} (${why}).`, { cause: error });
    } finally {
      clearTimeout(timer);
      this.#inflight.delete(controller);
    }
    return this.#answer(method, response, text);
  }

  #answer(method, response, text) {
    const status = response.status;
    let reply = null;
    try {
      reply = text ? JSON.parse(text) : null;
    } catch {
      reply = null;
    }
    const error = reply?.error;
    if (status < 400 && reply && !error && "result" in reply) return reply.result;
    const code = error?.code;
    const message = error?.message ?? `HTTP ${status} from ${this.#url}${text ? `: ${text.slice(0, 200)}` : ""}`;
    const options = { code, data: error?.data, status };
    if (status === 401 || status === 403 || code === UNAUTHENTICATED || code === FORBIDDEN) {
      throw new AuthenticationError(`${method}: ${message}`, options);
    }
    if (TRANSIENT_STATUS.has(status) || code === UNAVAILABLE || code === THROTTLED || (!error && status >= 500)) {
      const retryAfter = Number(response.headers.get("Retry-After")) || undefined;
      throw new Unavailable(`${method}: ${message}`, { ...options, retryAfter });
    }
    if (code === INVALID_TOKEN) throw new InvalidToken(`${method}: ${message}`, options);
    if (code === TIMEOUT) throw new Empty(`${method}: no message`, options);
    if (error) throw new RemoteError(message, options);
    const hint = status === 404 || status === 405 ? " Is the url the site's berryMQ endpoint (.../berrymq/rpc/)?" : "";
    throw new BerryMQError(`${method}: unexpected answer: ${message}.${hint}`, options);
  }

  /** Call method, retrying Unavailable with backoff until `within` seconds have passed. */
  async #retrying(method, params, within) {
    const deadline = Date.now() + within * 1000;
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.call(method, params);
      } catch (error) {
        if (!(error instanceof Unavailable)) throw error;
        const delay = backoff(attempt, error.retryAfter);
        if (Date.now() + delay * 1000 > deadline || this.#shut) throw error;
        await this.#sleep(delay);
      }
    }
  }

  #sleep(delay) {
    const signal = this.#stopping.signal;
    return new Promise((resolve) => {
      if (signal.aborted) return resolve();
      const done = () => {
        clearTimeout(timer);
        signal.removeEventListener("abort", done);
        resolve();
      };
      const timer = setTimeout(done, delay * 1000);
      signal.addEventListener("abort", done);
    });
  }

  #report(error) {
    try {
      this.onError(error);
    } catch {
      // an error handler that throws must not stop the loops
    }
  }

  /** The site's status method: node name, backend, connections, peers. */
  status() {
    return this.call("status", []);
  }

  // -- sending ----------------------------------------------------------------

  #sender() {
    if (!this.#sendToken) {
      const token = quiet(this.#retrying("connect_oneway", [this.ttl], this.sendTimeout));
      token.catch(() => {
        if (this.#sendToken === token) this.#sendToken = null; // the next send connects again
      });
      this.#sendToken = token;
    }
    return this.#sendToken;
  }

  /**
   * Twitter a message: twitter(identifier, ...args) or with keyword arguments last,
   * twitter(identifier, ...args, kwargs({...})). Returns the message sent,
   * {id, args, kwargs, uid, origin, timestamp}, at once; it goes with the next batch.
   * Throws TypeError for a malformed or local identifier or arguments JSON cannot carry.
   */
  twitter(identifier, ...args) {
    if (this.#closing) throw new BerryMQError(`twitter(${JSON.stringify(identifier)}): the client is closed.`);
    remoteIdentifier(identifier);
    const values = args.at(-1) instanceof Kwargs ? args.pop().values : {};
    try {
      JSON.stringify([args, values]);
    } catch (error) {
      throw new TypeError(`twitter(${JSON.stringify(identifier)}): the arguments are not JSON: ${error.message}`);
    }
    const message = { id: identifier, args, kwargs: values, uid: randomUUID(), origin: this.name, timestamp: Date.now() / 1000 };
    this.#pending.push(message);
    this.#sending ??= this.#drain();
    return message;
  }

  async #drain() {
    await new Promise((resolve) => setTimeout(resolve, 0)); // this tick's twitters join the batch
    try {
      while (this.#pending.length) {
        const batch = this.#pending.splice(0, this.batchSize);
        try {
          await this.#sendBatch(batch);
        } catch (error) {
          error.messages ??= batch;
          this.#failures.push(error);
          this.#report(error);
        }
      }
    } finally {
      this.#sending = null;
    }
  }

  async #sendBatch(batch) {
    const deadline = Date.now() + this.sendTimeout * 1000;
    const chunks = [batch]; // sent in order; one past a site limit is split in two
    while (chunks.length) {
      const messages = chunks[0];
      const left = Math.max(0, (deadline - Date.now()) / 1000);
      const token = messages.length ? await this.#sender() : null;
      try {
        if (messages.length) await this.#retrying("send_messages", [token, messages], left);
        chunks.shift();
      } catch (error) {
        if (error instanceof InvalidToken && left > 0) {
          this.#sendToken = null; // expired or the site restarted: the uids keep a resend safe
        } else if (error instanceof RemoteError && Number.isInteger(error.data?.index)) {
          const [refused] = messages.splice(error.data.index, 1); // the site names the bad one
          error.messages = [refused];
          this.#report(error);
        } else if (error.code === LIMIT_EXCEEDED && messages.length > 1) {
          const half = Math.ceil(messages.length / 2); // MAX_BODY_BYTES or MAX_MESSAGES_PER_CALL
          chunks.splice(0, 1, messages.slice(0, half), messages.slice(half));
        } else {
          error.messages = chunks.flat(); // the ones given up: those sent already are not
          throw error;
        }
      }
    }
  }

  /**
   * Resolve once every message twittered so far was accepted by the site. Rejects with the
   * first error since the last flush (its `messages` are those given up), e.g. Unavailable
   * after sendTimeout seconds, or AuthenticationError.
   */
  async flush() {
    while (this.#sending) await this.#sending;
    const [failure] = this.#failures;
    this.#failures = [];
    if (failure) throw failure;
  }

  // -- receiving --------------------------------------------------------------

  /**
   * Call fn(message) for each message matching pattern, twittered anywhere the site reaches
   * (this client included). Followers run one message at a time, in arrival order; an async
   * fn is awaited; what fn throws goes to onError. Returns {pattern, ready, unfollow()}:
   * ready resolves once the site keeps messages for the pattern.
   */
  following(pattern, fn) {
    if (this.#closing) throw new BerryMQError(`following(${JSON.stringify(pattern)}): the client is closed.`);
    const ident = remoteIdentifier(pattern, "pattern");
    if (typeof fn !== "function") throw new TypeError(`following(${JSON.stringify(pattern)}, fn): fn must be a function, not ${describe(fn)}.`);
    let feed = this.#feeds.get(ident.namespace);
    if (!feed) {
      feed = new Feed(this, ident.namespace);
      this.#feeds.set(ident.namespace, feed);
    }
    const follower = { ident, fn };
    const ready = feed.add(follower);
    return {
      pattern,
      ready,
      unfollow: () => {
        if (feed.remove(follower) && this.#feeds.get(ident.namespace) === feed) this.#feeds.delete(ident.namespace);
      },
    };
  }

  /** Open a queue connection for pattern; resolves to its token (retried while Unavailable). */
  _openQueue(pattern) {
    if (this.#closing) return Promise.reject(new BerryMQError(`Queue(${JSON.stringify(pattern)}): the client is closed.`));
    return quiet(this.#retrying("connect_via_queue", [pattern, this.ttl], this.requestTimeout));
  }

  /** Pull once: a long poll of `wait` seconds (0: get_nowait). Rejects with Empty when none came. */
  _pull(token, wait) {
    if (wait <= 0) return this.call("get_nowait", [token]);
    return this.call("get", [token, true, wait], { timeout: wait + this.requestTimeout });
  }

  _track(queue, add) {
    if (add) this.#queues.add(queue);
    else this.#queues.delete(queue);
  }

  _isNew(uid) {
    if (typeof uid !== "string") return true;
    if (this.#seen.has(uid)) return false;
    this.#seen.add(uid);
    if (this.#seen.size > UID_WINDOW) this.#seen.delete(this.#seen.values().next().value);
    return true;
  }

  _report(error) {
    this.#report(error);
  }

  _sleep(delay) {
    return this.#sleep(delay);
  }

  get _stopped() {
    return this.#shut;
  }

  // -- talk -------------------------------------------------------------------

  /**
   * Call the site's followers of identifier with args (an array) and options.kwargs; resolve
   * to their results in follower order. Each result is also twittered to replyPattern, where
   * the answers of other processes and peers arrive (follow it to see them). Not retried.
   * options.timeout: seconds to wait for the answer (requestTimeout).
   */
  async talk(identifier, replyPattern, args = [], options = {}) {
    if (this.#closing) throw new BerryMQError(`talk(${JSON.stringify(identifier)}): the client is closed.`);
    remoteIdentifier(identifier);
    remoteIdentifier(replyPattern, "replyPattern");
    if (!Array.isArray(args)) throw new TypeError(`talk(${JSON.stringify(identifier)}): args must be an array, not ${describe(args)}.`);
    const { kwargs: values = {}, timeout = this.requestTimeout } = options;
    seconds(timeout, "talk(): timeout", { allowZero: false });
    for (let attempt = 0; ; attempt++) {
      const token = await this.#sender();
      try {
        return await this.call("talk", [token, identifier, replyPattern, args, values], { timeout });
      } catch (error) {
        // A token the site does not know ran nothing: connecting again and asking again is safe.
        if (!(error instanceof InvalidToken) || attempt > 0) throw error;
        this.#sendToken = null;
      }
    }
  }

  // -- closing ----------------------------------------------------------------

  /**
   * Flush what was twittered, stop the follower loops and queues, abort calls in flight and
   * tell the site to drop this client's connections. Resolves when done; rejects with the
   * flush's error, after closing all the same. Calling it again returns the same promise.
   */
  close() {
    this.#closed ??= this.#close();
    return this.#closed;
  }

  async #close() {
    this.#closing = true;
    let failure = null;
    try {
      await this.flush();
    } catch (error) {
      failure = error;
    }
    this.#shut = true;
    const tokens = [];
    for (const feed of this.#feeds.values()) tokens.push(...feed.stop());
    for (const queue of this.#queues) tokens.push(queue._token);
    if (this.#sendToken) tokens.push(this.#sendToken);
    this.#feeds.clear();
    this.#queues.clear();
    this.#stopping.abort();
    for (const controller of this.#inflight) controller.abort();
    const settled = await Promise.allSettled(tokens.filter(Boolean));
    const alive = settled.filter((s) => s.status === "fulfilled").map((s) => s.value);
    await Promise.allSettled(alive.map((token) => this.#request("close_connection", [token], CLOSE_CALL_SECONDS)));
    if (failure) throw failure;
  }
}

/** The one long-poll loop of a client's followers in one namespace. */
class Feed {
  constructor(client, namespace) {
    this.client = client;
    this.namespace = namespace;
    this.followers = [];
    this.current = null; // {pattern, token, retiring}
    this.connections = [];
  }

  add(follower) {
    this.followers.push(follower);
    const pattern = this.cover();
    if (this.current?.pattern !== pattern) {
      if (this.current) this.current.retiring = true; // drained, then closed, by its loop
      this.current = { pattern, token: this.client._openQueue(pattern), retiring: false };
      this.connections.push(this.current);
      this.poll(this.current).catch((error) => this.client._report(error));
    }
    return quiet(this.current.token.then(() => undefined));
  }

  remove(follower) {
    const index = this.followers.indexOf(follower);
    if (index >= 0) this.followers.splice(index, 1);
    if (this.followers.length || !this.current) return false;
    this.current.retiring = true;
    this.current = null;
    return true;
  }

  stop() {
    const tokens = this.connections.map((connection) => connection.token);
    this.connections = [];
    this.current = null;
    return tokens;
  }

  /** The narrowest pattern matching every followed pattern: a shared name or action, else "*". */
  cover() {
    const one = (values) => (values.size === 1 ? [...values][0] : "*");
    const name = one(new Set(this.followers.map((f) => f.ident.name)));
    const action = one(new Set(this.followers.map((f) => f.ident.action)));
    return `${name}${this.namespace === null ? "" : `@${this.namespace}`}:${action}`;
  }

  async poll(connection) {
    const client = this.client;
    for (let attempt = 0; !client._stopped; ) {
      try {
        const token = await connection.token;
        const message = await client._pull(token, connection.retiring ? 0 : client.pollSeconds);
        attempt = 0;
        await this.deliver(message);
      } catch (error) {
        if (client._stopped) return;
        if (error instanceof Empty) {
          if (connection.retiring) break;
          continue;
        }
        if (error instanceof InvalidToken) {
          client._report(new InvalidToken(`The site forgot the queue connection for ${connection.pattern} (expired or restarted): messages may have been missed; connecting again.`, { cause: error }));
          connection.token = client._openQueue(connection.pattern);
          continue;
        }
        if (attempt === 0) client._report(error); // the first failure of a streak, not each retry
        if (connection.retiring && attempt >= 3) break;
        await client._sleep(backoff(attempt++, error.retryAfter));
      }
    }
    if (client._stopped) return;
    this.connections = this.connections.filter((c) => c !== connection);
    const token = await connection.token.catch(() => null);
    if (token) client.call("close_connection", [token]).catch(() => {});
  }

  async deliver(message) {
    if (!this.client._isNew(message.uid)) return;
    for (const { ident, fn } of [...this.followers]) {
      if (!matches(ident, message.id)) continue;
      try {
        await fn(message);
      } catch (error) {
        this.client._report(error);
      }
    }
  }
}

/**
 * A queue on the site that keeps a copy of each message matching pattern, from the moment
 * `ready` resolves, for this client to pull. Options: client (the one connect() made).
 */
export class Queue {
  #client;
  #token;

  constructor(pattern, { client } = {}) {
    remoteIdentifier(pattern, "pattern");
    this.pattern = pattern;
    this.#client = client ?? defaultClient();
    this.#token = this.#client._openQueue(pattern);
    this.#client._track(this, true);
    this.ready = quiet(this.#token.then(() => undefined));
  }

  get _token() {
    return this.#token;
  }

  /**
   * Resolve to the oldest message, waiting at most timeout seconds (undefined: until one
   * comes). Rejects with Empty when none came in time, InvalidToken when the site forgot the
   * queue (messages may have been missed; the queue keeps messages again from then on).
   */
  async get({ timeout } = {}) {
    if (timeout !== undefined) seconds(timeout, "Queue.get(): timeout");
    const client = this.#client;
    const deadline = timeout === undefined ? Infinity : Date.now() + timeout * 1000;
    for (;;) {
      const left = Math.max(0, (deadline - Date.now()) / 1000);
      try {
        return await this.#pull(Math.min(left, client.pollSeconds));
      } catch (error) {
        if (!(error instanceof Empty) || Date.now() >= deadline) throw error;
      }
    }
  }

  /** Resolve to the oldest message at once; rejects with Empty when there is none. */
  getNowait() {
    return this.#pull(0);
  }

  async #pull(wait) {
    const token = await this.#token;
    try {
      return await this.#client._pull(token, wait);
    } catch (error) {
      if (error instanceof InvalidToken) this.#token = this.#client._openQueue(this.pattern);
      throw error;
    }
  }

  /** Stop keeping messages: the site drops the queue and what it still holds. */
  async close() {
    this.#client._track(this, false);
    const token = await this.#token.catch(() => null);
    if (token) await this.#client.call("close_connection", [token]).catch(() => {});
  }
}

// -- the module's client --------------------------------------------------------

let current = null;

function defaultClient() {
  if (!current) throw new BerryMQError("No berryMQ client: call connect({ url, apiKey }) first.");
  return current;
}

/** Connect to a site (see Client for the options); the module's functions then use this client. */
export function connect(options) {
  current = new Client(options);
  return current;
}

/** twitter(identifier, ...args, kwargs({...})?) on the connected client; see Client.twitter. */
export function twitter(identifier, ...args) {
  return defaultClient().twitter(identifier, ...args);
}

/** following(pattern, fn) on the connected client; see Client.following. */
export function following(pattern, fn) {
  return defaultClient().following(pattern, fn);
}

/** talk(identifier, replyPattern, args, {kwargs, timeout}) on the connected client. */
export function talk(identifier, replyPattern, args, options) {
  return defaultClient().talk(identifier, replyPattern, args, options);
}

/** flush() on the connected client. */
export function flush() {
  return defaultClient().flush();
}

/** Close the connected client (see Client.close); connect() makes a new one. */
export function close() {
  const client = current;
  current = null;
  return client ? client.close() : Promise.resolve();
}
