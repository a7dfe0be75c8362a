// api-gateway: the public entry point. GET /health answers 200 only when every service it
// routes to answers its own GET /health (URLs from *_SERVICE_URL); 503 names the ones that do not.
'use strict';
const { serve, httpCheck } = require('@lomash/service-kit');

const UPSTREAMS = {
  'auth-service': 'AUTH_SERVICE_URL',
  'product-service': 'PRODUCT_SERVICE_URL',
  'order-payment-service': 'ORDER_PAYMENT_SERVICE_URL',
  'appointment-service': 'APPOINTMENT_SERVICE_URL',
  'content-service': 'CONTENT_SERVICE_URL',
  'customer-service': 'CUSTOMER_SERVICE_URL',
  'notification-service': 'NOTIFICATION_SERVICE_URL',
  'analytics-service': 'ANALYTICS_SERVICE_URL',
};

const checks = {};
for (const [service, variable] of Object.entries(UPSTREAMS)) {
  const url = process.env[variable];
  checks[service] = url ? httpCheck(url) : async () => { throw new Error(`${variable} is not set`); };
}

serve({ name: process.env.SERVICE_NAME || 'api-gateway', checks });
