/* SmartCoders sign-in: progressive enhancement for the login form.
 *
 * Without JavaScript the form posts normally. With it, the form posts through fetch,
 * asking for JSON, so a failed attempt keeps the page, the email and the focus.
 * No inline script or style is used (the CSP forbids both).
 */
(function () {
  'use strict';

  var GENERIC_ERROR =
    'Sign-in failed. Check your email and password, or try again in a few minutes.';
  var PENDING_LABEL = 'Signing in\u2026';

  var form = document.getElementById('login-form');
  if (!form || typeof window.fetch !== 'function' || typeof window.FormData !== 'function') {
    return;
  }

  var errorBox = document.getElementById('form-error');
  var button = form.querySelector('button[type="submit"]');
  var passwordInput = form.querySelector('input[name="password"]');
  var idleLabel = button ? button.textContent : '';
  var pending = false;

  // Same-origin path only: "/x" yes; "//host", "/\host" and absolute URLs no.
  function isSafeRedirect(value) {
    return (
      typeof value === 'string' &&
      value.charAt(0) === '/' &&
      value.charAt(1) !== '/' &&
      value.charAt(1) !== '\\'
    );
  }

  // The path+query+hash of a same-origin absolute URL, or '' for anything else.
  function sameOriginPath(url) {
    try {
      var parsed = new URL(url, window.location.href);
      if (parsed.origin !== window.location.origin) {
        return '';
      }
      return parsed.pathname + parsed.search + parsed.hash;
    } catch (err) {
      return '';
    }
  }

  function setPending(on) {
    pending = on;
    if (on) {
      form.setAttribute('aria-busy', 'true');
    } else {
      form.removeAttribute('aria-busy');
    }
    if (!button) {
      return;
    }
    button.disabled = on;
    if (on) {
      button.setAttribute('aria-busy', 'true');
      button.textContent = PENDING_LABEL;
    } else {
      button.removeAttribute('aria-busy');
      button.textContent = idleLabel;
    }
  }

  function showError(message) {
    setPending(false);
    if (errorBox) {
      errorBox.textContent = message || GENERIC_ERROR;
      errorBox.hidden = false;
    }
    if (passwordInput) {
      passwordInput.value = '';
      passwordInput.focus();
    }
  }

  function readJson(response) {
    var type = response.headers.get('Content-Type') || '';
    if (type.indexOf('application/json') === -1) {
      return Promise.resolve(null);
    }
    return response.json().catch(function () {
      return null;
    });
  }

  form.addEventListener('submit', function (event) {
    event.preventDefault();
    if (pending) {
      return;
    }
    setPending(true);

    fetch('/login', {
      method: 'POST',
      body: new FormData(form),
      headers: { Accept: 'application/json' },
      credentials: 'same-origin'
    })
      .then(function (response) {
        if (response.ok && response.redirected && sameOriginPath(response.url)) {
          // The server answered with a plain redirect instead of JSON: follow it.
          window.location.assign(sameOriginPath(response.url));
          return undefined;
        }
        return readJson(response).then(function (data) {
          if (response.status === 200 && data && data.redirect !== undefined) {
            // Signed in: go where the server says, but never off-site.
            window.location.assign(isSafeRedirect(data.redirect) ? data.redirect : '/');
            return;
          }
          var message =
            data && typeof data.message === 'string' && data.message.trim() !== ''
              ? data.message
              : GENERIC_ERROR;
          showError(message);
        });
      })
      .catch(function () {
        showError(GENERIC_ERROR);
      });
  });
})();
