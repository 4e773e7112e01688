// The login form: user, password and, when the account has one, a TOTP code.

import * as api from "./api.js";
import { h, field, errorLine, showError } from "./ui.js";

export function render(root, { done }) {
  const user = h("input#login-user", { name: "user", autocomplete: "username", required: true });
  const password = h("input#login-password", { name: "password", type: "password", autocomplete: "current-password", required: true });
  const totp = h("input#login-totp", { name: "totp", inputmode: "numeric", autocomplete: "one-time-code", placeholder: "only if asked" });
  const error = errorLine(null);
  const form = h("form.card.login#login-form", h("h1", "Sign in"), field("User", user), field("Password", password), field("TOTP code", totp),
    h("button#login-submit", { type: "submit" }, "Sign in"), error);
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    showError(error, null);
    try {
      await api.login(user.value.trim(), password.value, totp.value.trim());
      done();
    } catch (e) {
      showError(error, e);
    }
  });
  root.append(form);
  user.focus();
}
