// The Node side of tests/clients/test_interop.py, driven over stdin and stdout.
//
// Follows the prefix's "<p>rb:*" (Ruby's messages) and "<p>py:*" (Python's
// broadcast). Prints one line per event:
//   ready                    both followers are served by the site
//   got <JSON message>       a follower received a message
//   talked <JSON results>    "talk <sku>" talked "price:quote" with reply "<p>reply:quoted"
//   bye                      "quit": closed
// The client module's path is the first argument.

import { createInterface } from "node:readline";
import { pathToFileURL } from "node:url";

const berrymq = await import(pathToFileURL(process.argv[2]).href);
const prefix = process.env.INTEROP_PREFIX;
const client = berrymq.connect({
  url: process.env.BERRYMQ_URL,
  apiKey: process.env.BERRYMQ_API_KEY,
  pollSeconds: 2,
  onError: (error) => console.error(`error ${error}`),
});
const report = (message) => console.log(`got ${JSON.stringify(message)}`);
await Promise.all([
  client.following(`${prefix}rb:*`, report).ready,
  client.following(`${prefix}py:*`, report).ready,
]);
console.log("ready");

for await (const line of createInterface({ input: process.stdin })) {
  const [command, argument] = line.split(" ");
  if (command === "talk") {
    const results = await client.talk("price:quote", `${prefix}reply:quoted`, [argument]);
    console.log(`talked ${JSON.stringify(results)}`);
  } else if (command === "quit") {
    await client.close();
    console.log("bye");
    break;
  }
}
process.exit(0);
