// One multiplexed event stream for the whole page (GET /jobs/stream, Server-Sent Events): every change of any
// job in the caller's scope arrives as `event: job` with {kind, job} — the job without `request` and `result`
// (merge() keeps those from what a view already has; read /jobs/{id}/status for a new result). Views subscribe and unsubscribe; the
// stream can be paused and resumed. Where the stream cannot be opened (a 429: this key already holds as many
// streams as the gateway allows), views poll instead.

const listeners = new Set();
const stateListeners = new Set();
let source = null;
let paused = false;
let state = "off"; // "on" | "connecting" | "paused" | "unavailable" | "off"
let everOpened = false;
let lastEventId = "";

const present = (v) => v !== null && v !== undefined && !(typeof v === "object" && !Object.keys(v).length);

/** The stream's job (its request empty, its result null) over what a view already knows of it. */
export function merge(known, changed) {
  if (!known) return changed;
  return {
    ...known, ...changed,
    request: present(changed.request) ? changed.request : known.request,
    result: present(changed.result) ? changed.result : known.result,
  };
}

function setState(next) {
  state = next;
  for (const fn of stateListeners) fn(state);
}

function open() {
  if (source || paused) return;
  setState("connecting");
  // A fresh EventSource cannot send Last-Event-ID: after a pause, `after` replays what was missed.
  source = new EventSource(lastEventId ? `/jobs/stream?after=${encodeURIComponent(lastEventId)}` : "/jobs/stream");
  source.addEventListener("open", () => { everOpened = true; setState("on"); });
  source.addEventListener("job", (message) => {
    if (message.lastEventId) lastEventId = message.lastEventId;
    let event;
    try { event = JSON.parse(message.data); } catch { return; }
    for (const fn of listeners) fn(event);
  });
  source.addEventListener("error", () => {
    if (source && source.readyState === EventSource.CLOSED) {
      // Refused outright (429, 401): the browser will not reconnect by itself.
      source = null;
      setState(everOpened ? "off" : "unavailable");
      if (everOpened) setTimeout(open, 3000);
    } else {
      setState("connecting");
    }
  });
}

function close() {
  if (source) { source.close(); source = null; }
}

/** Subscribe to job events; returns the unsubscribe function. The stream opens with the first subscriber
 * and then stays open while the page is (views come and go over the same connection). */
export function subscribe(fn) {
  listeners.add(fn);
  open();
  return () => listeners.delete(fn);
}

export function onState(fn) {
  stateListeners.add(fn);
  fn(state);
  return () => stateListeners.delete(fn);
}

export function liveState() { return state; }
export function isPaused() { return paused; }

export function pause() {
  paused = true;
  close();
  setState("paused");
}

export function resume() {
  paused = false;
  open();
}

const POLL_MS = 2000;

/** Follow changes for a view: `onEvent` for each streamed event; where the stream is unavailable, `poll` every
 * two seconds instead (not while paused). Returns the function that stops following. */
export function follow(onEvent, poll) {
  let timer = null;
  const stopPolling = () => { if (timer) { clearInterval(timer); timer = null; } };
  const unsubscribe = subscribe(onEvent);
  const unwatch = onState((s) => {
    if (s === "unavailable" && !paused && poll) {
      if (!timer) timer = setInterval(poll, POLL_MS);
    } else {
      stopPolling();
    }
  });
  return () => { stopPolling(); unwatch(); unsubscribe(); };
}
