// order-payment-service: orders, payments (Stripe), invoices and refunds.
// GET /health: this service's own PostgreSQL database (as its own role) and Redis index.
// POST /v1/webhooks/stripe: the Stripe-Signature header is verified with Stripe's own library
// (stripe.webhooks.constructEvent, offline) against STRIPE_WEBHOOK_SECRET; 400 on a bad
// signature; each verified event is recorded once in webhook_events (a replay is a no-op).
'use strict';
const fs = require('node:fs');
const path = require('node:path');
const { serve, ownChecks } = require('@lomash/service-kit');

const WEBHOOK_PATH = process.env.STRIPE_WEBHOOK_PATH || '/v1/webhooks/stripe';
let stripe;
let pool;

// `inv stripe.listen` writes a new secret into .env while the service runs: read it from there
// first, so the new secret applies without a restart (the environment is the fallback).
function webhookSecret() {
  try {
    const text = fs.readFileSync(path.join(process.cwd(), '.env'), 'utf8');
    const line = text.split(/\r?\n/).find((l) => /^\s*STRIPE_WEBHOOK_SECRET\s*=/.test(l));
    if (line) {
      const value = line.split('=').slice(1).join('=').trim().replace(/^(['"])(.*)\1$/, '$2');
      if (value) return value;
    }
  } catch (err) { /* no .env beside the service (containers): the environment has it */ }
  return process.env.STRIPE_WEBHOOK_SECRET || '';
}

function db() {
  if (!pool) {
    const { Pool } = require('pg');
    pool = new Pool({ connectionString: process.env.DATABASE_URL, max: 4, idleTimeoutMillis: 10000 });
  }
  return pool;
}

async function stripeWebhook(req, res, { sendJson, readBody }) {
  const secret = webhookSecret();
  if (!secret) {
    return sendJson(res, 500, { error: 'STRIPE_WEBHOOK_SECRET is not set: run `inv stripe.listen` (or `inv stripe.secret`)' });
  }
  const body = await readBody(req);
  if (!stripe) stripe = require('stripe')(process.env.STRIPE_SECRET_KEY || 'sk_test_placeholder');
  let event;
  try {
    event = stripe.webhooks.constructEvent(body, req.headers['stripe-signature'] || '', secret);
  } catch (err) {
    console.warn(`webhook rejected: ${err.message}`);
    return sendJson(res, 400, { error: 'invalid_signature', message: err.message });
  }
  const result = await db().query(
    'INSERT INTO webhook_events (event_id, type) VALUES ($1, $2) ON CONFLICT (event_id) DO NOTHING',
    [event.id, event.type]);
  const duplicate = result.rowCount === 0;
  console.log(`webhook ${event.type} ${event.id}${duplicate ? ' (already recorded)' : ' recorded'}`);
  return sendJson(res, 200, { received: true, id: event.id, type: event.type, duplicate });
}

serve({
  name: process.env.SERVICE_NAME || 'order-payment-service',
  checks: ownChecks(),
  routes: { [`POST ${WEBHOOK_PATH}`]: stripeWebhook },
});
