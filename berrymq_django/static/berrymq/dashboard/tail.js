/* berryMQ live tail: follow a pattern through the site's JavaScript client.
 *
 * The page's client (berrymq/berrymq.js, with the staff session and the CSRF
 * token) follows the pattern: it opens a queue connection on the site's own
 * JSON-RPC endpoint and long-polls it, so nothing polls a page every second.
 * Rows are built with textContent: message text is never read as HTML. Pause
 * keeps collecting and shows what came on resume.
 */
import { Client } from "../berrymq.js";

const MAX_ROWS = 500, MAX_HELD = 1000, POLL_SECONDS = 20, TTL = 60;

const root = document.getElementById("berrymq-tail");
const rows = document.getElementById("tail-rows");
const statusLine = document.getElementById("tail-status");
const patternBox = document.getElementById("tail-pattern");
const pauseButton = document.getElementById("tail-pause");
const client = new Client({
  url: root.getAttribute("data-rpc-url"),
  csrfToken: root.querySelector("input[name=csrfmiddlewaretoken]").value,
  name: "dashboard-tail",
  ttl: TTL,
  pollSeconds: POLL_SECONDS,
  onError: (error) => say(`Error: ${error.message} (trying again)`),
});
let subscription = null, paused = false, held = [];

function say(text) { statusLine.textContent = text; }

function cell(row, text, className, label) {
  const td = document.createElement("td");
  td.className = className;
  td.setAttribute("data-label", label);
  td.textContent = text;
  row.appendChild(td);
}

function show(message) {
  const row = document.createElement("tr");
  const time = new Date((message.timestamp || Date.now() / 1000) * 1000);
  cell(row, time.toISOString().slice(11, 23), "time", "Time");
  cell(row, message.id, "identifier", "Identifier");
  cell(row, JSON.stringify(message.args || []), "args", "Args");
  cell(row, JSON.stringify(message.kwargs || {}), "kwargs", "Kwargs");
  cell(row, message.origin || "", "origin", "Origin");
  cell(row, message.uid || "", "uid", "Uid");
  rows.insertBefore(row, rows.firstChild);
  while (rows.childNodes.length > MAX_ROWS) { rows.removeChild(rows.lastChild); }
}

function receive(mine, message) {
  if (mine !== subscription) { return; } // a message of a pattern no longer followed
  if (paused) {
    held.push(message);
    if (held.length > MAX_HELD) { held.shift(); }
    say(`Paused: ${held.length} held`);
  } else {
    show(message);
  }
}

function follow(pattern) {
  if (subscription) { subscription.unfollow(); subscription = null; }
  say(`Connecting to ${pattern}…`);
  let mine;
  try {
    mine = client.following(pattern, (message) => receive(mine, message));
  } catch (error) { // a malformed pattern, named by the client
    say(`Error: ${error.message}`);
    return;
  }
  subscription = mine;
  mine.ready.then(
    () => { if (mine === subscription) { say(`Following ${pattern}${paused ? " (paused)" : ""}`); } },
    (error) => {
      if (mine !== subscription) { return; }
      mine.unfollow(); // the site refused the pattern: stop asking
      subscription = null;
      say(`Error: ${error.message}`);
    },
  );
}

document.getElementById("tail-form").addEventListener("submit", (event) => {
  event.preventDefault();
  follow(patternBox.value.trim() || "*:*");
});
pauseButton.addEventListener("click", () => {
  paused = !paused;
  pauseButton.textContent = paused ? "Resume" : "Pause";
  pauseButton.setAttribute("aria-pressed", String(paused));
  if (!paused) {
    held.forEach(show);
    held = [];
  }
  say((paused ? "Paused: " : "Following ") + patternBox.value);
});
document.getElementById("tail-clear").addEventListener("click", () => {
  rows.textContent = "";
  held = [];
});
window.addEventListener("pagehide", () => { client.close().catch(() => {}); });
follow(patternBox.value.trim() || "*:*");
