// The report's filter: a reader of hostdev's selectors (package match)
// for the common keys, and the matcher, over the facts the page embeds as
// JSON. It writes to the page with textContent and the hidden property
// only: no device string ever becomes markup.
(function () {
	"use strict";

	var data = JSON.parse(document.getElementById("hostdev-data").textContent);
	var byId = {};
	data.devices.forEach(function (d) { byId[d.id] = d; });

	var KEYS = ["bus", "vendor", "product", "class", "driver", "name", "serial", "port", "busnum", "devnum",
		"interface-class", "address", "iommu-group", "mdev-type", "uuid"];
	var ELSEWHERE = { "interface-class": true, "mdev-type": true, "uuid": true };

	function isHex(s) { return /^[0-9a-f]*$/.test(s); }
	function isDigits(s) { return /^[0-9]+$/.test(s); }
	function q(s) { return JSON.stringify(s); }

	function decimal(k, v, lo, hi) {
		if (!isDigits(v)) { throw k + " " + q(v) + " is not a decimal number"; }
		var n = parseInt(v, 10);
		if (n < lo || n > hi) { throw k + " " + q(v) + " is out of range " + lo + " to " + hi + " (use * for any)"; }
		return String(n);
	}

	function canonicalPort(v) {
		var dash = v.indexOf("-"), bus = "", path = v, out = "";
		if (dash >= 0) {
			bus = v.slice(0, dash);
			path = v.slice(dash + 1);
			if (bus === "") { throw "port " + q(v) + " has no bus before the '-'"; }
			out = (bus === "*" ? "*" : decimal("busnum", bus, 1, 65535)) + "-";
		}
		if (path === "") { throw "port " + q(v) + " has no port path after the bus"; }
		return out + path.split(".").map(function (f) {
			if (f === "*") { return f; }
			if (!isDigits(f)) { throw "port " + q(v) + ": " + q(f) + " is not a decimal port number"; }
			var n = parseInt(f, 10);
			if (n > 255) { throw "port " + q(v) + ": port number " + q(f) + " is out of range 0 to 255"; }
			return String(n);
		}).join(".");
	}

	// parseAddress reads [DDDD:]BB:SS.F, any field *, into
	// [domain, bus, slot, function] with -1 for *.
	function parseAddress(v) {
		var parts = v.split(":"), dom;
		if (parts.length === 2) {
			dom = "0";
		} else if (parts.length === 3) {
			dom = parts.shift();
		} else {
			throw "address " + q(v) + " is not a PCI address";
		}
		var dot = parts[1].indexOf(".");
		if (dot < 0) { throw "address " + q(v) + " has no function"; }
		function field(name, s, digits, bits) {
			if (s === "*") { return -1; }
			var h = s.toLowerCase();
			if (h === "" || h.length > digits || !isHex(h)) { throw "address " + q(v) + ": " + name + " " + q(s) + " is not 1 to " + digits + " hex digits"; }
			var n = parseInt(h, 16);
			if (n >= Math.pow(2, bits)) { throw "address " + q(v) + ": " + name + " " + q(s) + " is too large"; }
			return n;
		}
		return [field("domain", dom, 8, 32), field("bus", parts[0], 2, 8),
			field("slot", parts[1].slice(0, dot), 2, 5), field("function", parts[1].slice(dot + 1), 1, 3)];
	}

	function canonical(k, v) {
		if (v === "*") { return v; }
		var h = v.toLowerCase();
		switch (k) {
		case "bus":
			if (v === "usb" || v === "pci" || v === "mdev") { return v; }
			throw "bus " + q(v) + " is not usb, pci or mdev";
		case "vendor":
		case "product":
			if (h.length > 2 && h.slice(0, 2) === "0x") { h = h.slice(2); }
			if (h.indexOf("*") >= 0) {
				if (h.length <= 4 && isHex(h.split("*").join(""))) { return h; }
			} else if (h.length >= 1 && h.length <= 4 && isHex(h)) {
				return "0000".slice(h.length) + h;
			}
			throw k + " " + q(v) + " is not 4 hex digits";
		case "class":
			if ((h.length === 2 || h.length === 4 || h.length === 6) && isHex(h)) { return h; }
			throw "class " + q(v) + " is not 2, 4 or 6 hex digits";
		case "driver":
		case "name":
		case "serial":
			return v;
		case "busnum":
			return decimal(k, v, 1, 65535);
		case "devnum":
			return decimal(k, v, 1, 127);
		case "iommu-group":
			return decimal(k, v, 0, 2147483647);
		case "port":
			return canonicalPort(v);
		case "address":
			parseAddress(v);
			return v;
		}
		throw "unknown key " + q(k);
	}

	// parse reads a selector into {key: [values]}, as match.Parse does.
	function parse(s) {
		var terms = {};
		function add(k, values) {
			values = values.slice().sort().filter(function (x, i, a) { return i === 0 || a[i - 1] !== x; });
			if (terms[k]) {
				if (terms[k].join("|") === values.join("|")) { return; }
				throw k + " is given twice; use " + k + "=A|B for alternatives";
			}
			terms[k] = values;
		}
		s.split(",").forEach(function (part) {
			if (part === "") { throw "empty element (stray comma?)"; }
			var eq = part.indexOf("=");
			if (eq < 0) {
				short(part, add);
				return;
			}
			var k = part.slice(0, eq), raw = part.slice(eq + 1);
			if (KEYS.indexOf(k) < 0) { throw "unknown key " + q(k) + "; known keys are " + KEYS.join(", "); }
			if (ELSEWHERE[k]) { throw k + "= is not in this page's filter; use hostdev-discover resolve"; }
			if (raw === "") { throw k + " has an empty value"; }
			add(k, raw.split("|").map(function (alt) {
				if (alt === "") { throw k + " " + q(raw) + " has an empty alternative"; }
				return canonical(k, alt);
			}));
		});
		return terms;
	}

	function short(part, add) {
		if (part.slice(0, 5) === "host:") {
			var rest = part.slice(5), i;
			if (rest.split(":").length === 2 && rest.indexOf(".") < 0) {
				i = rest.indexOf(":");
				var v = canonical("vendor", rest.slice(0, i)), p = canonical("product", rest.slice(i + 1));
				add("bus", ["usb"]); add("vendor", [v]); add("product", [p]);
				return;
			}
			if (rest.split(".").length === 2 && rest.indexOf(":") < 0) {
				i = rest.indexOf(".");
				var b = canonical("busnum", rest.slice(0, i)), d = canonical("devnum", rest.slice(i + 1));
				add("bus", ["usb"]); add("busnum", [b]); add("devnum", [d]);
				return;
			}
			throw q(part) + " is neither host:BUS.DEV (decimal) nor host:VVVV:PPPP (hex)";
		}
		var pfx = part.slice(0, 4) === "pci:", addr = pfx ? part.slice(4) : part;
		if (!pfx && part.indexOf(":") < 0) { throw q(part) + " is not key=value, host:BUS.DEV, host:VVVV:PPPP or a PCI address"; }
		add("bus", ["pci"]); add("address", [canonical("address", addr)]);
	}

	// glob: only * is special, and matches any run of characters.
	function glob(pattern, s) {
		if (pattern.indexOf("*") < 0) { return pattern === s; }
		var parts = pattern.split("*");
		if (s.slice(0, parts[0].length) !== parts[0]) { return false; }
		s = s.slice(parts[0].length);
		var last = parts[parts.length - 1];
		for (var i = 1; i < parts.length - 1; i++) {
			var j = s.indexOf(parts[i]);
			if (j < 0) { return false; }
			s = s.slice(j + parts[i].length);
		}
		return s.length >= last.length && s.slice(s.length - last.length) === last;
	}

	function holds(k, v, d) {
		var usb = d.bus === "usb";
		switch (k) {
		case "bus": return glob(v, d.bus);
		case "vendor": return glob(v, d.vendor);
		case "product": return glob(v, d.product);
		case "class": return d.class !== undefined && (v === "*" || d.class.slice(0, v.length) === v);
		case "driver": return (d.drivers || []).some(function (x) { return glob(v, x); });
		case "name": return (d.names || []).some(function (x) { return glob(v.toLowerCase(), x); });
		case "serial": return d.serial !== undefined && glob(v, d.serial);
		case "port":
			if (!usb) { return false; }
			return glob(v, v.indexOf("-") >= 0 ? d.busnum + "-" + d.port : d.port);
		case "busnum": return usb && glob(v, String(d.busnum));
		case "devnum": return usb && glob(v, String(d.devnum));
		case "address":
			if (!d.address) { return false; }
			if (v === "*") { return true; }
			var a = parseAddress(v);
			return a.every(function (want, i) { return want < 0 || want === d.address[i]; });
		case "iommu-group": return d.group !== undefined && glob(v, String(d.group));
		}
		return false;
	}

	function exact(terms, k) {
		return terms[k] !== undefined && terms[k].length === 1 && terms[k][0].indexOf("*") < 0;
	}

	// matches is match.Selector.Match: every term holds, and a hub only
	// when the selector asks for one.
	function matches(terms, d) {
		var keys = Object.keys(terms);
		if (keys.length === 0) { return false; }
		for (var i = 0; i < keys.length; i++) {
			var k = keys[i];
			if (!terms[k].some(function (v) { return holds(k, v, d); })) { return false; }
		}
		if (!d.hub) { return true; }
		var asks = (terms["class"] || []).some(function (v) { return v.slice(0, 2) === "09"; });
		return asks || exact(terms, "port") || (exact(terms, "busnum") && exact(terms, "devnum"));
	}

	// filter returns the ids of the devices s selects, or throws what is
	// wrong with s.
	function filter(s) {
		var terms = parse(s);
		return data.devices.filter(function (d) { return matches(terms, d); }).map(function (d) { return d.id; });
	}
	window.hostdevFilter = filter;

	var input = document.getElementById("filter");
	var count = document.getElementById("count");
	var problem = document.getElementById("filter-error");

	function each(sel, f) { Array.prototype.forEach.call(document.querySelectorAll(sel), f); }

	function apply() {
		var s = input.value.trim(), hit = null;
		problem.textContent = "";
		if (s !== "") {
			try {
				hit = {};
				filter(s).forEach(function (id) { hit[id] = true; });
			} catch (e) {
				hit = null;
				problem.textContent = String(e);
			}
		}
		var n = 0;
		// A tree node stays when it or one of its descendants is a hit;
		// an ancestor kept only for its descendants is dimmed.
		each("ul.tree > li", function visit(li) {
			var dev = li.querySelector(":scope > .dev");
			var own = dev !== null && hit !== null && hit[dev.getAttribute("data-dev")] === true, below = false;
			Array.prototype.forEach.call(li.querySelectorAll(":scope > ul > li"), function (c) {
				if (visit(c)) { below = true; }
			});
			li.hidden = hit !== null && !own && !below;
			if (dev !== null) {
				dev.classList.toggle("hit", own);
				dev.classList.toggle("dim", hit !== null && !own && below);
			}
			if (own) { n++; }
			return own || below;
		});
		each("li.group", function (g) {
			var members = g.querySelectorAll("[data-dev]");
			g.hidden = hit !== null && !Array.prototype.some.call(members, function (m) { return hit[m.getAttribute("data-dev")] === true; });
		});
		each("article.device", function (a) {
			a.hidden = hit !== null && hit[a.getAttribute("data-dev")] !== true;
		});
		count.textContent = hit === null ? data.devices.length + " devices" : n + " of " + data.devices.length + " devices match";
	}
	input.addEventListener("input", apply);

	var picked = document.getElementById("picked");
	var pickedSel = document.getElementById("picked-selector");
	var pickedCmd = document.getElementById("picked-command");
	var pickedNone = document.getElementById("picked-none");

	// pick shows the selector of the device clicked, ready to copy.
	function pick(id) {
		var d = byId[id];
		if (!d) { return; }
		each(".dev.picked", function (e) { e.classList.remove("picked"); });
		each('.dev[data-dev="' + id + '"]', function (e) { e.classList.add("picked"); });
		picked.hidden = false;
		pickedSel.value = d.selector || "";
		pickedCmd.value = d.command || "";
		pickedNone.hidden = !!d.selector;
		pickedSel.focus();
		pickedSel.select();
	}
	document.addEventListener("click", function (ev) {
		var el = ev.target.closest("[data-dev]");
		if (el && !el.closest("#picked")) { pick(el.getAttribute("data-dev")); }
	});
	document.addEventListener("keydown", function (ev) {
		if (ev.key === "Enter" && ev.target.hasAttribute && ev.target.hasAttribute("data-dev")) { pick(ev.target.getAttribute("data-dev")); }
	});
	apply();
}());
