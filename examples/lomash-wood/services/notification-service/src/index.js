// notification-service: Email (SES), SMS and push notifications.
// GET /health answers 200 only when this service's own PostgreSQL database (as its own role)
// and its own Redis index answer; 503 names the one that failed. The service's code lives here.
'use strict';
const { serve, ownChecks } = require('@lomash/service-kit');

serve({ name: process.env.SERVICE_NAME || 'notification-service', checks: ownChecks() });
