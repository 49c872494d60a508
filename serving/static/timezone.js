// Tell the server the browser's time zone once, so pages show times in it (leadscore
// reads the `leadscore_tz` cookie and checks it against the IANA zones it knows).
// A zone chosen with `?tz=` is already in the cookie and is left alone.
(function () {
  "use strict";
  if (document.cookie.split("; ").some(function (c) { return c.indexOf("leadscore_tz=") === 0; })) {
    return;
  }
  var zone = "";
  try {
    zone = Intl.DateTimeFormat().resolvedOptions().timeZone || "";
  } catch (e) {
    return;
  }
  if (/^[A-Za-z0-9_+\-\/]{1,64}$/.test(zone)) {
    document.cookie = "leadscore_tz=" + encodeURIComponent(zone) +
      "; path=/ui; max-age=31536000; samesite=lax";
  }
})();
