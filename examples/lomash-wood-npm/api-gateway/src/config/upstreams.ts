// The services behind the gateway and the variable that holds each one's base URL.
export const UPSTREAMS = {
  'auth-service': 'AUTH_SERVICE_URL',
  'product-service': 'PRODUCT_SERVICE_URL',
  'order-payment-service': 'ORDER_PAYMENT_SERVICE_URL',
  'appointment-service': 'APPOINTMENT_SERVICE_URL',
  'content-service': 'CONTENT_SERVICE_URL',
  'customer-service': 'CUSTOMER_SERVICE_URL',
  'notification-service': 'NOTIFICATION_SERVICE_URL',
  'analytics-service': 'ANALYTICS_SERVICE_URL',
} as const;

export type Upstream = keyof typeof UPSTREAMS;
