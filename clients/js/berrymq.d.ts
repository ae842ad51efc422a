// Types of berrymq.js, the berryMQ client for Node 20+ and browsers.

/** A JSON value, as messages carry them. */
export type JSONValue = string | number | boolean | null | JSONValue[] | { [key: string]: JSONValue };

/** A message as the site delivers it (and as twitter() returns it). timestamp: seconds since the epoch. */
export interface Message {
  /** The identifier it was twittered with, "name[@namespace]:action". */
  id: string;
  args: JSONValue[];
  kwargs: { [key: string]: JSONValue };
  /** Unique id: the site acknowledges a second copy within its DEDUP_SECONDS but delivers it once. */
  uid: string;
  /** The node that twittered it: a site's NODE_NAME, or a client's name. */
  origin: string;
  timestamp: number;
  /** On a talk() request: where its answers go. */
  reply_to?: string;
}

/** A parsed identifier; action "*" when none was given. */
export interface Identifier {
  name: string;
  action: string;
  namespace: string | null;
  /** The canonical text, "name[@namespace]:action". */
  text: string;
}

export interface ConnectOptions {
  /** The site's endpoint, e.g. "http://127.0.0.1:8000/berrymq/rpc/"; relative only in a browser. */
  url: string;
  /** A key of the site's BERRYMQ["API_KEYS"], sent as "Authorization: Bearer <key>". */
  apiKey?: string;
  /** In a browser on a staff session instead of a key; default: the csrftoken cookie's value. */
  csrfToken?: string;
  /** This client's node name, the origin of what it twitters (default "js-<12 random hex>"). */
  name?: string;
  /** Idle seconds after which the site forgets a connection of this client (default 600). */
  ttl?: number;
  /** Seconds one long poll waits; the site caps it at its MAX_POLL_SECONDS (default 20). */
  pollSeconds?: number;
  /** Seconds before a call without an answer fails with Unavailable (default 30). */
  requestTimeout?: number;
  /** Seconds a batch of twitters is retried before its messages are given up (default 60). */
  sendTimeout?: number;
  /** Messages per send_messages call (default 500). */
  batchSize?: number;
  /** Told of what fails in the background: sends, polls, followers (default console.error). */
  onError?: (error: unknown) => void;
  /** A fetch implementation (default the global fetch). */
  fetch?: typeof fetch;
}

export interface CallOptions {
  /** Seconds to wait for the answer (default the client's requestTimeout). */
  timeout?: number;
}

export interface TalkOptions {
  /** Keyword arguments of the request. */
  kwargs?: { [key: string]: JSONValue };
  /** Seconds to wait for the answers (default the client's requestTimeout). */
  timeout?: number;
}

/** What following() returns. */
export interface Following {
  pattern: string;
  /** Resolves once the site keeps messages for the pattern; rejects if it could not connect. */
  ready: Promise<void>;
  /** Stop calling this follower. */
  unfollow(): void;
}

/** Keyword arguments for twitter(), made by kwargs(). */
export interface Kwargs {
  readonly values: { [key: string]: JSONValue };
}

/** A follower: called with each matching message; a returned promise is awaited. */
export type FollowerFunction = (message: Message) => unknown;

/** A twitter() argument list: positional arguments, then optionally kwargs({...}) last. */
export type TwitterArgs = JSONValue[] | [...JSONValue[], Kwargs];

export class Client {
  constructor(options: ConnectOptions);
  /** This client's node name, the origin of what it twitters. */
  readonly name: string;
  readonly url: string;
  readonly closed: boolean;
  ttl: number;
  pollSeconds: number;
  requestTimeout: number;
  sendTimeout: number;
  batchSize: number;
  onError: (error: unknown) => void;
  /** Call a JSON-RPC method of the site once and resolve to its result. */
  call(method: string, params?: unknown[] | { [name: string]: unknown }, options?: CallOptions): Promise<unknown>;
  /** The site's status method. */
  status(): Promise<{ [key: string]: JSONValue }>;
  /** Twitter a message; it goes with the next batch. Throws TypeError for bad input. */
  twitter(identifier: string, ...args: TwitterArgs): Message;
  /** Resolve once every message twittered so far was accepted; reject with the first failure since the last flush. */
  flush(): Promise<void>;
  /** Call fn for each message matching pattern. */
  following(pattern: string, fn: FollowerFunction): Following;
  /** Call the site's followers of identifier; resolve to their results in follower order. */
  talk(identifier: string, replyPattern: string, args?: JSONValue[], options?: TalkOptions): Promise<JSONValue[]>;
  /** Flush, stop followers and queues, abort calls in flight, close the site's connections. */
  close(): Promise<void>;
}

export interface QueueOptions {
  /** The client to use (default the one connect() made). */
  client?: Client;
}

export interface GetOptions {
  /** Seconds to wait at most; undefined waits until a message comes. */
  timeout?: number;
}

/** A queue on the site keeping a copy of each message matching pattern, for this client to pull. */
export class Queue {
  constructor(pattern: string, options?: QueueOptions);
  readonly pattern: string;
  /** Resolves once the site keeps messages for the pattern. */
  readonly ready: Promise<void>;
  /** The oldest message; rejects with Empty when none came within timeout seconds. */
  get(options?: GetOptions): Promise<Message>;
  /** The oldest message at once; rejects with Empty when there is none. */
  getNowait(): Promise<Message>;
  /** The site drops the queue and what it still holds. */
  close(): Promise<void>;
}

export interface ErrorOptions {
  code?: number;
  data?: unknown;
  status?: number;
  cause?: unknown;
}

/** The base class of every error of this module. */
export class BerryMQError extends Error {
  constructor(message: string, options?: ErrorOptions);
  /** The JSON-RPC error code, when the site gave one. */
  code?: number;
  /** The JSON-RPC error's data, when the site gave some. */
  data?: unknown;
  /** The HTTP status of the answer, when there was one. */
  status?: number;
  /** On an error of flush() or onError from a send: the messages given up. */
  messages?: Message[];
}
/** No or a wrong API key (HTTP 401, -32004), or not allowed (HTTP 403, -32003). */
export class AuthenticationError extends BerryMQError {}
/** The site does not know the token (expired, closed, or the site restarted): -32000. */
export class InvalidToken extends BerryMQError {}
/** No answer, or a transient refusal (HTTP 429, 502, 503, 504); retryAfter in seconds. */
export class Unavailable extends BerryMQError {
  constructor(message: string, options?: ErrorOptions & { retryAfter?: number });
  retryAfter?: number;
}
/** Any other JSON-RPC error of the site, e.g. -32602 Invalid params. */
export class RemoteError extends BerryMQError {}
/** A queue had no message (-32001). */
export class Empty extends BerryMQError {}

/** Connect to a site; the module's functions then use this client. */
export function connect(options: ConnectOptions): Client;
/** twitter() on the connected client. */
export function twitter(identifier: string, ...args: TwitterArgs): Message;
/** following() on the connected client. */
export function following(pattern: string, fn: FollowerFunction): Following;
/** talk() on the connected client. */
export function talk(identifier: string, replyPattern: string, args?: JSONValue[], options?: TalkOptions): Promise<JSONValue[]>;
/** flush() on the connected client. */
export function flush(): Promise<void>;
/** Close the connected client. */
export function close(): Promise<void>;
/** Mark an object as twitter()'s keyword arguments. */
export function kwargs(values: { [key: string]: JSONValue }): Kwargs;
/** Parse an identifier as the site does; throws TypeError naming a malformed one. */
export function parseIdentifier(text: string): Identifier;
/** Whether two identifiers select each other ("*" on either side matches; namespaces never cross). */
export function matches(a: string | Identifier, b: string | Identifier): boolean;
