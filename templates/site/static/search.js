// Full-text search over the prebuilt index (bot/site/search.py): for each query word,
// fetch one shard per year segment, keep the lines that hold every word (prefix match),
// then show the newest results with the matching log line, linked to its anchor.
(function () {
  "use strict";
  var WORD = /[\p{L}\p{N}_]{2,40}/gu;
  var MAX_RESULTS = 100;
  var form = document.getElementById("search-form");
  var input = document.getElementById("q");
  var status = document.getElementById("search-status");
  var list = document.getElementById("search-results");
  var cache = {};

  function getJSON(url) {
    if (!cache[url]) {
      cache[url] = fetch(url).then(function (r) {
        if (!r.ok) { throw new Error(url + ": " + r.status); }
        return r.json();
      });
    }
    return cache[url];
  }
  function getText(url) {
    var key = "text:" + url;
    if (!cache[key]) {
      cache[key] = fetch(url).then(function (r) { return r.ok ? r.text() : ""; });
    }
    return cache[key];
  }
  function shardKey(word) {
    var head = Array.from(word).slice(0, 2).join("");
    if (/^[a-z0-9]{2}$/.test(head)) { return head; }
    var bytes = new TextEncoder().encode(head);
    return "x" + Array.from(bytes).map(function (b) { return b.toString(16).padStart(2, "0"); }).join("");
  }
  function decode(postings, into) {  // "doc:l,l;doc:l" -> Set of "doc:line"
    postings.split(";").forEach(function (group) {
      var parts = group.split(":");
      parts[1].split(",").forEach(function (line) { into.add(parts[0] + ":" + line); });
    });
  }
  function linesFor(segment, shards, word) {
    var key = shardKey(word);
    if (shards.indexOf(key) < 0) { return Promise.resolve(new Set()); }
    return getJSON("search/" + segment + "/" + key + ".json").then(function (shard) {
      var found = new Set();
      Object.keys(shard).forEach(function (w) {
        if (w.lastIndexOf(word, 0) === 0) { decode(shard[w], found); }
      });
      return found;
    });
  }
  function searchSegment(segment, shards, words) {
    return Promise.all(words.map(function (w) { return linesFor(segment, shards, w); })).then(function (sets) {
      sets.sort(function (a, b) { return a.size - b.size; });
      var hits = Array.from(sets[0]).filter(function (ref) {
        return sets.every(function (s) { return s.has(ref); });
      });
      if (!hits.length) { return []; }
      return getJSON("search/" + segment + "/docs.json").then(function (docs) {
        return hits.map(function (ref) {
          var p = ref.split(":");
          var doc = docs[+p[0]];
          return { doc: doc, line: +p[1], order: doc[3] + ":" + doc[0] + ":" + String(1e6 - +p[1]).padStart(7, "0") };
        });
      });
    });
  }
  function highlight(text, words) {
    var frag = document.createDocumentFragment();
    var lower = text.toLowerCase();
    var i = 0;
    while (i < text.length) {
      var best = -1, len = 0;
      words.forEach(function (w) {
        var at = lower.indexOf(w, i);
        if (at >= 0 && (best < 0 || at < best)) { best = at; len = w.length; }
      });
      if (best < 0) { break; }
      frag.appendChild(document.createTextNode(text.slice(i, best)));
      var mark = document.createElement("mark");
      mark.textContent = text.slice(best, best + len);
      frag.appendChild(mark);
      i = best + len;
    }
    frag.appendChild(document.createTextNode(text.slice(i)));
    return frag;
  }
  function show(results, words) {
    list.textContent = "";
    results.slice(0, MAX_RESULTS).forEach(function (r) {
      var doc = r.doc;
      var li = document.createElement("li");
      var a = document.createElement("a");
      a.href = doc[0] + (r.line ? "#l-" + r.line : "");
      a.textContent = doc[1] + " (" + doc[2] + ", " + doc[3] + ")" + (r.line ? ", line " + r.line : "");
      li.appendChild(a);
      var quote = document.createElement("span");
      quote.className = "line";
      li.appendChild(quote);
      list.appendChild(li);
      if (r.line && doc[4]) {
        getText(doc[4]).then(function (text) {
          var line = text.split("\n")[r.line - 1] || "";
          quote.appendChild(highlight(line, words));
        });
      }
    });
  }
  function run(query) {
    var words = Array.from(new Set((query.toLowerCase().match(WORD) || [])));
    list.textContent = "";
    if (!words.length) { status.textContent = query ? "Type words of two letters or more." : ""; return; }
    status.textContent = "Searching…";
    getJSON("search/index.json").then(function (index) {
      var segments = Object.keys(index.segments);
      return Promise.all(segments.map(function (s) { return searchSegment(s, index.segments[s], words); }));
    }).then(function (parts) {
      var results = [].concat.apply([], parts);
      results.sort(function (a, b) { return a.order < b.order ? 1 : a.order > b.order ? -1 : 0; });
      status.textContent = results.length ? results.length + " line" + (results.length === 1 ? "" : "s") +
        " found" + (results.length > MAX_RESULTS ? "; the newest " + MAX_RESULTS + " are shown." : ".") :
        "Nothing found for “" + words.join(" ") + "”.";
      show(results, words);
    }).catch(function (e) { status.textContent = "Search failed: " + e.message; });
  }
  form.addEventListener("submit", function (ev) {
    ev.preventDefault();
    var q = input.value;
    history.replaceState(null, "", "?q=" + encodeURIComponent(q));
    run(q);
  });
  var initial = new URLSearchParams(location.search).get("q");
  if (initial) { input.value = initial; run(initial); }
})();
