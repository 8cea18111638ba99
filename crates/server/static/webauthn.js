// mamori: WebAuthn glue for the pages (no build step). Binary fields travel as base64url.
"use strict";

function b64urlToBuf(s) {
  const pad = "=".repeat((4 - (s.length % 4)) % 4);
  const bin = atob((s + pad).replace(/-/g, "+").replace(/_/g, "/"));
  return Uint8Array.from(bin, (c) => c.charCodeAt(0)).buffer;
}

function bufToB64url(buf) {
  const bytes = new Uint8Array(buf);
  let bin = "";
  for (const b of bytes) bin += String.fromCharCode(b);
  return btoa(bin).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

async function postJson(url, body) {
  const r = await fetch(url, {
    method: "POST",
    credentials: "same-origin",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(body),
  });
  const data = await r.json().catch(() => ({}));
  if (!r.ok) {
    const e = data.error || {};
    const ja = document.documentElement.lang === "ja";
    throw new Error((ja ? e.message_ja : e.message_en) || String(r.status));
  }
  return data;
}

function showError(message) {
  const box = document.getElementById("webauthn-error");
  if (box) {
    box.textContent = message;
    box.hidden = false;
  }
}

async function registerKey(event) {
  event.preventDefault();
  const name = document.getElementById("key-name").value;
  try {
    const options = await postJson("/api/v1/me/webauthn/register/start", {});
    const pk = options.publicKey;
    pk.challenge = b64urlToBuf(pk.challenge);
    pk.user.id = b64urlToBuf(pk.user.id);
    (pk.excludeCredentials || []).forEach((c) => { c.id = b64urlToBuf(c.id); });
    const cred = await navigator.credentials.create({ publicKey: pk });
    await postJson("/api/v1/me/webauthn/register/finish", {
      name,
      credential: {
        id: cred.id,
        rawId: bufToB64url(cred.rawId),
        type: cred.type,
        response: {
          attestationObject: bufToB64url(cred.response.attestationObject),
          clientDataJSON: bufToB64url(cred.response.clientDataJSON),
        },
        extensions: cred.getClientExtensionResults(),
      },
    });
    window.location.reload();
  } catch (e) {
    showError(e.message);
  }
}

async function loginWithKey(event) {
  event.preventDefault();
  try {
    const options = await postJson("/api/v1/session/webauthn/challenge", {});
    const pk = options.publicKey;
    pk.challenge = b64urlToBuf(pk.challenge);
    (pk.allowCredentials || []).forEach((c) => { c.id = b64urlToBuf(c.id); });
    const cred = await navigator.credentials.get({ publicKey: pk });
    const me = await postJson("/api/v1/session/webauthn/finish", {
      credential: {
        id: cred.id,
        rawId: bufToB64url(cred.rawId),
        type: cred.type,
        response: {
          authenticatorData: bufToB64url(cred.response.authenticatorData),
          clientDataJSON: bufToB64url(cred.response.clientDataJSON),
          signature: bufToB64url(cred.response.signature),
          userHandle: cred.response.userHandle ? bufToB64url(cred.response.userHandle) : null,
        },
        extensions: cred.getClientExtensionResults(),
      },
    });
    window.location.href = me.password_change_required ? "/password" : "/";
  } catch (e) {
    showError(e.message);
  }
}

document.addEventListener("DOMContentLoaded", () => {
  const reg = document.getElementById("register-key-form");
  if (reg) reg.addEventListener("submit", registerKey);
  const login = document.getElementById("webauthn-login");
  if (login) login.addEventListener("click", loginWithKey);
});
