// Tether's service worker, served at <prefix>/sw.js so that its scope is the app under any
// mount prefix. Each concern is a module of its own under static/js/sw/.
import "./static/js/sw/offline.js";
import "./static/js/sw/push.js";
