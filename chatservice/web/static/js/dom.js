// Building DOM nodes from data, never from HTML strings.
//
// Everything a person typed (messages, names, room names) reaches the page
// through text nodes and textContent, so it always shows as the characters
// it is. The page's Trusted Types policy ("trusted-types 'none'") makes any
// innerHTML-like assignment throw, so a slip here fails loudly, not silently.

/**
 * Create an element.
 * @param {string} tag
 * @param {Record<string, unknown>} [props] attributes; "class", "text",
 *   "dataset", and "on<event>" for listeners (never an attribute) are special
 * @param {...(Node|string|null|undefined|false|Array)} children strings become text nodes
 * @returns {HTMLElement}
 */
export function h(tag, props = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(props)) {
    if (value === undefined || value === null || value === false) continue;
    if (name === "class") element.className = String(value);
    else if (name === "text") element.textContent = String(value);
    else if (name === "dataset") Object.assign(element.dataset, value);
    else if (name.startsWith("on")) element.addEventListener(name.slice(2), value);
    else element.setAttribute(name, value === true ? "" : String(value));
  }
  append(element, children);
  return element;
}

/** Append children (strings as text), skipping empty ones. */
export function append(parent, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    parent.append(child);
  }
}

/** The element with this id; throws if the page lacks it (a page/script mismatch). */
export function byId(id) {
  const element = document.getElementById(id);
  if (!element) throw new Error(`the page has no #${id}`);
  return element;
}

/**
 * Run `handler(event)` when `form` is submitted, instead of the browser sending it
 * (the page's policy, form-action 'none', would refuse that anyway).
 */
export function onSubmit(form, handler) {
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    handler(event);
  });
}

/** Remove every child of an element. */
export function clear(element) {
  element.replaceChildren();
}

/** A short time ("14:05"), with the date when it is not today. */
export function shortTime(ms) {
  const date = new Date(ms);
  const today = new Date();
  const sameDay = date.toDateString() === today.toDateString();
  const options = sameDay
    ? { hour: "2-digit", minute: "2-digit" }
    : { month: "short", day: "numeric", hour: "2-digit", minute: "2-digit" };
  return new Intl.DateTimeFormat(undefined, options).format(date);
}

/** A <time> element for a timestamp in milliseconds. */
export function timeElement(ms) {
  const date = new Date(ms);
  return h("time", { datetime: date.toISOString(), title: date.toLocaleString(), text: shortTime(ms) });
}

/** A random id for client_msg_id (crypto.randomUUID needs a secure context; this does not). */
export function randomId() {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}
