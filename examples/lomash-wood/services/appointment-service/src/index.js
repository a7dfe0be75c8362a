// Placeholder HTTP server: answers GET /health so probes and the container
// HEALTHCHECK have something real to call. The service's code lives here.
'use strict';
const http = require('node:http');

const name = process.env.SERVICE_NAME || 'appointment-service';
const port = Number(process.env.PORT || 3004);

const server = http.createServer((req, res) => {
  if (req.method === 'GET' && (req.url === '/health' || req.url === '/v1/health')) {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ status: 'ok', service: name }));
    return;
  }
  res.writeHead(404, { 'content-type': 'application/json' });
  res.end(JSON.stringify({ error: 'not_found', service: name }));
});

server.listen(port, () => console.log(`${name} listening on :${port}`));
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => server.close(() => process.exit(0)));
