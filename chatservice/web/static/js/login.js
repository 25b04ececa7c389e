// The log-in screen: log in, or create an account, with the same two fields.
//
// The form is never submitted by the browser (and the page's CSP says
// form-action 'none'): the script posts JSON to api/login or api/register
// and hands the session on. Refusals are written under the fields.

import { byId, onSubmit } from "./dom.js";
import { describe } from "./errors.js";

export class LoginView {
  /**
   * @param {import("./api.js").Api} api
   * @param {(session: {token: string, user: object}) => void} onSession
   */
  constructor(api, onSession) {
    this.api = api;
    this.onSession = onSession;
    this.view = byId("login-view");
    this.form = byId("login-form");
    this.username = byId("login-username");
    this.password = byId("login-password");
    this.error = byId("login-error");
    onSubmit(this.form, (event) => this.submit(event.submitter?.value === "register" ? "register" : "login"));
  }

  show(message = "") {
    this.view.hidden = false;
    this.error.textContent = message;
    this.password.value = "";
    (this.username.value ? this.password : this.username).focus();
  }

  hide() {
    this.view.hidden = true;
  }

  async submit(action) {
    const username = this.username.value.trim();
    const password = this.password.value;
    this.error.textContent = "";
    const buttons = this.form.querySelectorAll("button");
    buttons.forEach((button) => (button.disabled = true));
    try {
      const session = action === "register"
        ? await this.api.register(username, password)
        : await this.api.login(username, password);
      this.password.value = "";
      this.onSession(session);
    } catch (error) {
      this.error.textContent =
        action === "register" && error.code === "conflict"
          ? "That username is taken. Pick another, or log in."
          : describe(error.code, error.message, error.retryAfter);
      this.password.focus();
    } finally {
      buttons.forEach((button) => (button.disabled = false));
    }
  }
}
