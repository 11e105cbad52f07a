// Full-text search over the prebuilt index (bot/site/search.py). For each query word, per segment:
// one shard for whole words and prefixes and, for a word of INSIDE_MIN letters or more, the
// segment's vocabulary, then the shards of the words that hold it further in. The lines holding
// every word are ranked (titles first, then how well the words matched, then the newest) and shown
// with the matching line, or the title, quoted and linked to its anchor.
(function () {
  "use strict";
  var WORD = /[\p{L}\p{N}]{2,40}/gu;  // search.py WORD: "_", "-", "." and "/" split words
  var INSIDE_MIN = 3;  // search.py INSIDE_MIN
  var MAX_INSIDE_SHARDS = 40;  // per segment and word: a very common fragment fetches no more
  var MAX_RESULTS = 100;
  var WHOLE = 3, PREFIX = 2, INSIDE = 1, TITLE = 10;  // a line's rank: the sum over query words
  var form = document.getElementById("search-form");
  var input = document.getElementById("q");
  var teamSelect = document.getElementById("team");
  var yearSelect = document.getElementById("year");
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
  function decode(postings, score, into) {  // "doc:l,l;doc:l" into Map "doc:line" -> best score
    postings.split(";").forEach(function (group) {
      var parts = group.split(":");
      parts[1].split(",").forEach(function (line) {
        var ref = parts[0] + ":" + line;
        if ((into.get(ref) || 0) < score) { into.set(ref, score); }
      });
    });
  }
  function fromShard(segment, key, scoreOf, into) {
    return getJSON("search/" + segment + "/" + key + ".json").then(function (shard) {
      Object.keys(shard).forEach(function (w) {
        var score = scoreOf(w);
        if (score) { decode(shard[w], score, into); }
      });
    });
  }
  function linesFor(segment, shards, word) {  // Promise of Map "doc:line" -> how well `word` matched
    var found = new Map();
    var jobs = [];
    var key = shardKey(word);
    if (shards.indexOf(key) >= 0) {
      jobs.push(fromShard(segment, key, function (w) {
        return w === word ? WHOLE : w.lastIndexOf(word, 0) === 0 ? PREFIX : 0;
      }, found));
    }
    if (Array.from(word).length >= INSIDE_MIN) {
      jobs.push(getJSON("search/" + segment + "/words.json").then(function (vocabulary) {
        var byShard = new Map();  // shard key -> Set of words holding `word` past their start
        vocabulary.split(" ").forEach(function (w) {
          if (w.indexOf(word, 1) > 0) {
            var k = shardKey(w);
            if (!byShard.has(k)) {
              if (byShard.size >= MAX_INSIDE_SHARDS) { return; }
              byShard.set(k, new Set());
            }
            byShard.get(k).add(w);
          }
        });
        return Promise.all(Array.from(byShard).map(function (entry) {
          return fromShard(segment, entry[0], function (w) { return entry[1].has(w) ? INSIDE : 0; }, found);
        }));
      }));
    }
    return Promise.all(jobs).then(function () { return found; });
  }
  function searchSegment(segment, shards, words, keep) {
    return Promise.all(words.map(function (w) { return linesFor(segment, shards, w); })).then(function (maps) {
      maps.sort(function (a, b) { return a.size - b.size; });
      var hits = [];
      maps[0].forEach(function (score, ref) {
        for (var i = 1; i < maps.length; i++) {
          if (!maps[i].has(ref)) { return; }
          score += maps[i].get(ref);
        }
        hits.push([ref, score]);
      });
      if (!hits.length) { return []; }
      return getJSON("search/" + segment + "/docs.json").then(function (docs) {
        return hits.map(function (hit) {
          var p = hit[0].split(":");
          var line = +p[1];
          return { doc: docs[+p[0]], line: line, score: hit[1] + (line === 0 ? TITLE : 0) };
        }).filter(function (r) { return keep(r.doc); });
      });
    });
  }
  function ranked(a, b) {
    return b.score - a.score || (a.doc[3] < b.doc[3] ? 1 : a.doc[3] > b.doc[3] ? -1 : 0) ||
      (a.doc[0] < b.doc[0] ? -1 : a.doc[0] > b.doc[0] ? 1 : 0) || a.line - b.line;
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
      var title = document.createElement("bdi");  // a title's bidi controls stay inside it
      title.textContent = doc[1];
      a.appendChild(title);
      a.appendChild(document.createTextNode(" (" + doc[2] + ", " + doc[3] + ")" + (r.line ? ", line " + r.line : "")));
      li.appendChild(a);
      var quote = document.createElement("bdi");
      quote.className = "line";
      li.appendChild(quote);
      list.appendChild(li);
      if (!r.line) {
        quote.appendChild(highlight(doc[1], words));
      } else if (doc[4]) {
        getText(doc[4]).then(function (text) {
          quote.appendChild(highlight(text.split("\n")[r.line - 1] || "", words));
        });
      }
    });
  }
  function run(query) {
    var words = Array.from(new Set((query.toLowerCase().match(WORD) || [])));
    var team = teamSelect.value, year = yearSelect.value;
    var keep = function (doc) { return (!team || doc[2] === team) && (!year || doc[3].slice(0, 4) === year); };
    list.textContent = "";
    if (!words.length) { status.textContent = query ? "Type words of two letters or more." : ""; return; }
    status.textContent = "Searching…";
    getJSON("search/index.json").then(function (index) {
      var segments = Object.keys(index.segments).filter(function (s) {
        var span = (index.spans || {})[s];  // [first, last] date: a search for one year skips other segments
        return !year || !span || (span[0].slice(0, 4) <= year && year <= span[1].slice(0, 4));
      });
      return Promise.all(segments.map(function (s) { return searchSegment(s, index.segments[s], words, keep); }));
    }).then(function (parts) {
      var results = [].concat.apply([], parts);
      results.sort(ranked);
      var where = (team ? " in " + team : "") + (year ? " in " + year : "");
      status.textContent = results.length ? results.length + " line" + (results.length === 1 ? "" : "s") +
        " found" + where + (results.length > MAX_RESULTS ? "; the best " + MAX_RESULTS + " are shown." : ".") :
        "Nothing found for “" + words.join(" ") + "”" + where + ".";
      show(results, words);
    }).catch(function (e) { status.textContent = "Search failed: " + e.message; });
  }
  function submit() {
    var params = new URLSearchParams({ q: input.value });
    if (teamSelect.value) { params.set("team", teamSelect.value); }
    if (yearSelect.value) { params.set("year", yearSelect.value); }
    history.replaceState(null, "", "?" + params.toString().replace(/\+/g, "%20"));
    run(input.value);
  }
  form.addEventListener("submit", function (ev) { ev.preventDefault(); submit(); });
  [teamSelect, yearSelect].forEach(function (select) {
    select.addEventListener("change", function () { if (input.value) { submit(); } });
  });
  var params = new URLSearchParams(location.search);
  [[teamSelect, params.get("team")], [yearSelect, params.get("year")]].forEach(function (pair) {
    if (pair[1] && Array.from(pair[0].options).some(function (o) { return o.value === pair[1]; })) {
      pair[0].value = pair[1];
    }
  });
  var initial = params.get("q");
  if (initial) { input.value = initial; run(initial); }
})();
