// What a person reads when the server says no.
//
// Clients branch on the error `code` (docs/protocol.md), never on the
// server's sentence; the sentence is shown only for codes that carry a
// detail the person needs (which field was wrong).

const SENTENCES = {
  network: "The server cannot be reached. Check the connection and try again.",
  invalid_credentials: "Wrong username or password.",
  conflict: "That name is already taken.",
  password_too_long: "That password is too long (at most 72 bytes).",
  content_too_long: "That message is too long. Shorten it and send it again.",
  too_many_reactions: "This message has as many reactions as it can take.",
  rate_limited: "You are going too fast. Wait a moment, then try again.",
  forbidden: "You can't do that here.",
  not_found: "That is gone: the message or room no longer exists.",
  unauthorized: "Your session ended. Log in again.",
  token_expired: "Your session expired. Log in again.",
  account_disabled: "A server admin disabled your account.",
  payload_too_large: "That is too large to send.",
  quota_exceeded: "You have used all the space this server gives you for files.",
  overloaded: "The server is busy. Try again in a few seconds.",
  store_unavailable: "The server can't save anything right now. Try again shortly.",
  store_full: "The server is out of space, so nothing can be saved right now.",
  store_read_only: "The server is read-only right now, so nothing can be saved.",
  internal_error: "Something went wrong on the server. Try again.",
};

// Codes whose server sentence says which rule was broken (or, for
// forbidden, which right is missing: muted, archived, not the author…).
const DETAILED = new Set(["invalid_request", "invalid_json", "forbidden"]);

/**
 * A sentence for an error code.
 * @param {string} code
 * @param {string} [detail] the server's own sentence
 * @param {number} [retryAfter] seconds, from Retry-After
 */
export function describe(code, detail, retryAfter) {
  if (code === "rate_limited" && retryAfter) {
    return `You are going too fast. Try again in ${retryAfter} second${retryAfter === 1 ? "" : "s"}.`;
  }
  if (DETAILED.has(code) && detail) return detail;
  return SENTENCES[code] ?? detail ?? "Something went wrong. Try again.";
}

// Refusals of a room's controls (invite, kick, rename…) whose server
// sentence is the answer: which right is missing, who is not in the room,
// why a name or an invitation cannot be.
const SAID_BY_SERVER = new Set(["forbidden", "not_found", "conflict", "invalid_request", "invalid_json"]);

/**
 * What to write next to a control the server refused: its own sentence
 * when it has one that says why, else the sentence for the code.
 * @param {{code: string, message?: string, retryAfter?: number|null}} error an ApiError
 */
export function refusal(error) {
  if (SAID_BY_SERVER.has(error.code) && error.message) return error.message;
  return describe(error.code, error.message, error.retryAfter);
}
