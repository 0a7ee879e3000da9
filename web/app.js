// The browser leak test: create a test, make the browser resolve its names (each fetch needs a DNS
// lookup through the system's resolvers), show resolvers live, then the verdict. No libraries.
"use strict";

const $ = (id) => document.getElementById(id);
const resolvers = new Map();

function setStatus(text) { $("status").textContent = text; }

function networkText(n) {
  if (!n || n.asn === null) return "unknown network";
  let text = "AS" + n.asn + (n.organisation ? " " + n.organisation : "");
  if (n.public_operator) text += " (public resolver: " + n.public_operator + ")";
  return text;
}

function renderResolvers(list) {
  const body = $("resolvers");
  body.replaceChildren();
  for (const r of list) {
    const row = document.createElement("tr");
    const cells = [r.address, r.network ? networkText(r.network) : "…", r.network && r.network.country ? r.network.country : "",
                   (r.family || "") + " " + (r.transports || []).join("+")];
    cells.forEach((text, i) => {
      const cell = document.createElement("td");
      if (i === 0) cell.className = "address";
      cell.textContent = text;
      row.appendChild(cell);
    });
    body.appendChild(row);
  }
  $("resolvers-section").hidden = list.length === 0;
}

function renderResults(results) {
  renderResolvers(results.resolvers);
  const egress = $("egress");
  egress.replaceChildren();
  for (const e of results.egress) {
    const item = document.createElement("li");
    item.textContent = e.address + " (" + e.family + ") — " + networkText(e.network);
    egress.appendChild(item);
  }
  $("egress-section").hidden = results.egress.length === 0;
  const verdict = $("verdict");
  const outcome = results.verdict.outcome;
  verdict.className = "verdict " + outcome;
  verdict.textContent = outcome === "leak" ? "DNS leak found" : outcome === "no_leak" ? "No DNS leak found" : "Could not tell";
  verdict.dataset.outcome = outcome;
  verdict.dataset.certainty = results.verdict.certainty || "";
  if (results.verdict.certainty === "unknown" && outcome !== "inconclusive") verdict.textContent += " (not certain)";
  const findings = $("findings");
  findings.replaceChildren();
  for (const f of results.verdict.findings) {
    const item = document.createElement("li");
    item.className = f.severity;
    item.dataset.code = f.code;
    item.textContent = f.reason;
    // What to do, under each finding; commands in backquotes are shown as code.
    if (f.fix) {
      const fix = document.createElement("p");
      fix.className = "fix";
      fix.append("What to do: ");
      f.fix.split("`").forEach((part, i) => {
        if (i % 2 === 1) {
          const code = document.createElement("code");
          code.textContent = part;
          fix.append(code);
        } else {
          fix.append(part);
        }
      });
      item.appendChild(fix);
    }
    findings.appendChild(item);
  }
  $("verdict-section").hidden = false;
}

async function fetchResults(id) {
  const response = await fetch("/api/v1/tests/" + encodeURIComponent(id), { cache: "no-store" });
  if (!response.ok) throw new Error(response.status === 404 ? "this result does not exist or has expired" : "HTTP " + response.status);
  return response.json();
}

function probe(host, timeoutMs) {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), timeoutMs);
  const port = location.port ? ":" + location.port : "";
  return fetch(location.protocol + "//" + host + port + "/probe", { cache: "no-store", signal: controller.signal })
    .catch(() => null)
    .finally(() => clearTimeout(timer));
}

function showShareLink(id) {
  const url = location.origin + location.pathname + "#" + id;
  $("share-link").href = url;
  $("share-link").textContent = url;
  $("share").hidden = false;
}

async function run(type) {
  for (const b of document.querySelectorAll("button")) b.disabled = true;
  resolvers.clear();
  renderResolvers([]);
  $("verdict-section").hidden = true;
  try {
    setStatus("Creating a test…");
    const created = await fetch("/api/v1/tests", {
      method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ type }),
    });
    if (!created.ok) throw new Error("the server refused to create a test (HTTP " + created.status + ")");
    const test = await created.json();
    history.replaceState(null, "", "#" + test.id);
    let events = null;
    if (window.EventSource) {
      events = new EventSource("/api/v1/tests/" + test.id + "/events");
      events.addEventListener("observation", (e) => {
        const o = JSON.parse(e.data);
        const r = resolvers.get(o.resolver) || { address: o.resolver, family: o.family, transports: [] };
        if (!r.transports.includes(o.transport)) r.transports.push(o.transport);
        resolvers.set(o.resolver, r);
        renderResolvers([...resolvers.values()]);
      });
      events.addEventListener("end", () => events.close());
    }
    setStatus("Looking up " + test.names.length + " test names…");
    const hosts = test.names.map((n) => n.name).concat([test.probe_hosts.ipv4, test.probe_hosts.ipv6]);
    await Promise.all(hosts.map((h) => probe(h, 8000)));
    setStatus("Collecting results…");
    await new Promise((resolve) => setTimeout(resolve, 1000));  // late, parallel resolvers
    if (events) events.close();
    renderResults(await fetchResults(test.id));
    showShareLink(test.id);
    setStatus("Done.");
  } catch (error) {
    setStatus("The test failed: " + error.message);
  } finally {
    for (const b of document.querySelectorAll("button")) b.disabled = false;
  }
}

$("standard").addEventListener("click", () => run("standard"));
$("extended").addEventListener("click", () => run("extended"));

const shared = location.hash.slice(1);
if (/^[0-9a-f]{56}$/.test(shared)) {
  setStatus("Showing a saved result.");
  fetchResults(shared).then((r) => { renderResults(r); showShareLink(shared); }).catch((e) => setStatus("Cannot show that result: " + e.message));
} else if (new URLSearchParams(location.search).get("autostart") === "1") {
  run("standard");
}
