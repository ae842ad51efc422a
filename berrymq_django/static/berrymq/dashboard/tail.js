/* berryMQ live tail: follow a pattern over the site's own JSON-RPC endpoint.
 *
 * connect_via_queue opens a queue connection for the pattern (with the staff
 * session and the CSRF token), then `get` long-polls it: one request waits on
 * the server until a message arrives or the poll times out, so nothing polls a
 * page every second. Rows are built with textContent: message text is never
 * read as HTML. Pause keeps collecting and shows what came on resume.
 */
(function () {
  "use strict";
  var TIMEOUT = -32001, INVALID_TOKEN = -32000;
  var MAX_ROWS = 500, MAX_HELD = 1000, POLL_SECONDS = 20, TTL = 60;

  var root = document.getElementById("berrymq-tail");
  var url = root.getAttribute("data-rpc-url");
  var csrf = root.querySelector("input[name=csrfmiddlewaretoken]").value;
  var rows = document.getElementById("tail-rows");
  var statusLine = document.getElementById("tail-status");
  var patternBox = document.getElementById("tail-pattern");
  var pauseButton = document.getElementById("tail-pause");
  var token = null, generation = 0, paused = false, held = [], nextId = 1;

  function call(method, params, keepalive) {
    return fetch(url, {
      method: "POST",
      credentials: "same-origin",
      keepalive: !!keepalive,
      headers: {"Content-Type": "application/json", "X-CSRFToken": csrf},
      body: JSON.stringify({jsonrpc: "2.0", id: nextId++, method: method, params: params})
    }).then(function (response) {
      return response.json().catch(function () {
        throw new Error("HTTP " + response.status);
      });
    }).then(function (body) {
      if (body.error) {
        var error = new Error(body.error.message);
        error.code = body.error.code;
        throw error;
      }
      return body.result;
    });
  }

  function say(text) { statusLine.textContent = text; }
  function sleep(ms) { return new Promise(function (done) { setTimeout(done, ms); }); }

  function cell(row, text, className, label) {
    var td = document.createElement("td");
    if (className) { td.className = className; }
    td.setAttribute("data-label", label);
    td.textContent = text;
    row.appendChild(td);
  }

  function show(message) {
    var row = document.createElement("tr");
    var time = new Date((message.timestamp || Date.now() / 1000) * 1000);
    cell(row, time.toISOString().slice(11, 23), "time", "Time");
    cell(row, message.id, "identifier", "Identifier");
    cell(row, JSON.stringify(message.args || []), "args", "Args");
    cell(row, JSON.stringify(message.kwargs || {}), "kwargs", "Kwargs");
    cell(row, message.origin || "", "origin", "Origin");
    cell(row, message.uid || "", "uid", "Uid");
    rows.insertBefore(row, rows.firstChild);
    while (rows.childNodes.length > MAX_ROWS) { rows.removeChild(rows.lastChild); }
  }

  function receive(message) {
    if (paused) {
      held.push(message);
      if (held.length > MAX_HELD) { held.shift(); }
      say("Paused: " + held.length + " held");
    } else {
      show(message);
    }
  }

  function closeToken(keepalive) {
    if (token) {
      var old = token;
      token = null;
      call("close_connection", {token: old}, keepalive).catch(function () {});
    }
  }

  async function follow(pattern) {
    var mine = ++generation, failures = 0;
    closeToken(false);
    while (mine === generation) {
      try {
        if (!token) {
          say("Connecting to " + pattern + "…");
          var opened = await call("connect_via_queue", {identifier: pattern, ttl: TTL});
          if (mine !== generation) {  // another pattern was asked for meanwhile
            call("close_connection", {token: opened}).catch(function () {});
            return;
          }
          token = opened;
          say("Following " + pattern + (paused ? " (paused)" : ""));
        }
        var message = await call("get", {token: token, block: true, timeout: POLL_SECONDS});
        failures = 0;
        if (mine === generation) { receive(message); }
      } catch (error) {
        if (mine !== generation) { return; }
        if (error.code === TIMEOUT) { continue; }
        if (error.code === INVALID_TOKEN) { token = null; continue; }
        failures += 1;
        say("Error: " + error.message + " (trying again)");
        if (error.code !== undefined && !token) { return; }  // the pattern was refused
        await sleep(Math.min(10000, 500 * Math.pow(2, failures)));
      }
    }
  }

  document.getElementById("tail-form").addEventListener("submit", function (event) {
    event.preventDefault();
    follow(patternBox.value.trim() || "*:*");
  });
  pauseButton.addEventListener("click", function () {
    paused = !paused;
    pauseButton.textContent = paused ? "Resume" : "Pause";
    pauseButton.setAttribute("aria-pressed", String(paused));
    if (!paused) {
      held.forEach(show);
      held = [];
    }
    say((paused ? "Paused: " : "Following ") + patternBox.value);
  });
  document.getElementById("tail-clear").addEventListener("click", function () {
    rows.textContent = "";
    held = [];
  });
  window.addEventListener("pagehide", function () { generation++; closeToken(true); });
  follow(patternBox.value.trim() || "*:*");
})();
