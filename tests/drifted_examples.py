"""`.env.example` files that drift from the stack the way real monorepos' do, written into a copy
of the reference workspace (`drift(root)`).

The style is that of a monorepo whose examples were written against someone's own machine: the
services listen on 4001-4008 (the gateway's example still calls them on 3001-3008), log in as
`postgres` with a personal password to `lomash_wood_<name>` databases, leave Redis without a
password or with the wrong index (in URLs and in split REDIS_HOST/PORT/PASSWORD/DB keys), send
mail through a hosted SMTP service, and carry placeholder secrets. The passwords exercise what
Node's dotenv and URL parsers make of them: '@', '#', quotes, '$', an encoded '%40', an empty one
and a placeholder; one file has CRLF line endings, one trailing blanks after its values.

`EXAMPLE_PASSWORDS`: the password each service's example gives (decoded), None where it is empty
or a placeholder (the suite generates one).
"""

from __future__ import annotations

from pathlib import Path

EXAMPLE_PASSWORDS = {
    "auth-service": "Yaksh@2610",
    "product-service": "p#ss@w'rd",
    "order-payment-service": '$ecret"q@1',
    "appointment-service": "Yaksh@2610",
    "content-service": None,  # `changeme`: a placeholder
    "customer-service": None,  # empty
    "notification-service": "p@ss",  # written encoded, p%40ss
    "analytics-service": "an@lytics#1",
}

# Keys whose value the suite must change in each file (every other line stays byte for byte).
CHANGED = {
    ".env": {
        "API_GATEWAY_PORT",
        "API_BASE_URL",
        "INTERNAL_API_SECRET",
        "AUTH_SERVICE_PORT",
        "AUTH_SERVICE_URL",
        "ORDER_PAYMENT_SERVICE_PORT",
        "ORDER_PAYMENT_SERVICE_URL",
        "POSTGRES_USER",
        "POSTGRES_PASSWORD",
        "DATABASE_URL",
        "AUTH_DATABASE_URL",
        "REDIS_PASSWORD",
        "REDIS_URL",
        "BETTER_AUTH_SECRET",
        "BETTER_AUTH_URL",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
    },
    "api-gateway/.env": {
        "JWT_SECRET",
        "REDIS_URL",
        "REDIS_PASSWORD",
        "CSRF_SECRET",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
    },
    "services/auth-service/.env": {
        "PORT",
        "SERVICE_BASE_URL",
        "DATABASE_URL",
        "DIRECT_URL",
        "REDIS_URL",
        "REDIS_PASSWORD",
        "BETTER_AUTH_SECRET",
        "BETTER_AUTH_URL",
        "JWT_SECRET",
        "SMTP_HOST",
        "SMTP_PORT",
        "CUSTOMER_SERVICE_URL",
        "TEST_DATABASE_URL",
        "TEST_REDIS_URL",
        "INTERNAL_API_KEY",
    },
    "services/product-service/.env": {
        "PORT",
        "DATABASE_URL",
        "DIRECT_URL",
        "REDIS_PASSWORD",
        "JWT_SECRET",
        "AUTH_SERVICE_URL",
        "ORDER_SERVICE_URL",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
    },
    "services/order-payment-service/.env": {
        "PORT",
        "DATABASE_URL",
        "DB_NAME",
        "DB_USER",
        "REDIS_URL",
        "REDIS_PASSWORD",
        "REDIS_DB",
        "JWT_SECRET",
        "SESSION_SECRET",
        "STRIPE_WEBHOOK_SECRET",
        "SMTP_HOST",
        "SMTP_PORT",
        "AWS_ENDPOINT_URL",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "QUEUE_REDIS_URL",
        "AUTH_SERVICE_URL",
        "PRODUCT_SERVICE_URL",
    },
    "services/appointment-service/.env": {
        "PORT",
        "DATABASE_URL",
        "REDIS_PASSWORD",
        "REDIS_DB",
        "JWT_SECRET",
        "SMTP_HOST",
        "SMTP_PORT",
        "ORDER_SERVICE_URL",
    },
    "services/content-service/.env": {
        "PORT",
        "DATABASE_URL",
        "DATABASE_SHADOW_URL",
        "REDIS_PASSWORD",
        "REDIS_DB",
        "REDIS_URL",
        "JWT_SECRET",
        "BETTER_AUTH_URL",
    },
    "services/customer-service/.env": {
        "PORT",
        "DATABASE_URL",
        "REDIS_PASSWORD",
        "REDIS_DB",
        "JWT_SECRET",
        "AUTH_SERVICE_URL",
        "AUTH_SERVICE_INTERNAL_TOKEN",
    },
    "services/notification-service/.env": {
        "PORT",
        "DATABASE_URL",
        "REDIS_PASSWORD",
        "REDIS_DB",
        "SMTP_HOST",
        "SMTP_PORT",
        "JWT_SECRET",
        "TEMPLATE_BASE_URL",
        "AUTH_SERVICE_URL",
    },
    "services/analytics-service/.env": {
        "PORT",
        "DATABASE_URL",
        "REDIS_PASSWORD",
        "REDIS_DB",
        "INTERNAL_SERVICE_SECRET",
        "API_GATEWAY_URL",
        "CUSTOMER_SERVICE_URL",
    },
}

ROOT = """
NODE_ENV=development
TZ=UTC

# --- API Gateway ------------------------------------------------------------
API_GATEWAY_PORT=4000
API_GATEWAY_HOST=0.0.0.0
API_BASE_URL=http://localhost:4000
INTERNAL_API_SECRET=

# --- Service Ports ------------------------------------------------------------
AUTH_SERVICE_PORT=4001
AUTH_SERVICE_URL=http://localhost:4001
ORDER_PAYMENT_SERVICE_PORT=4003
ORDER_PAYMENT_SERVICE_URL=http://localhost:4003

# --- PostgreSQL -----------------------------------------------------------------
POSTGRES_HOST=localhost
POSTGRES_PORT=5432
POSTGRES_DB=lomash_wood_dev
POSTGRES_USER=lw_master
POSTGRES_PASSWORD=

DATABASE_URL=postgresql://lw_master:@localhost:5432/lomash_wood_dev?schema=public&sslmode=prefer
AUTH_DATABASE_URL=postgresql://lw_auth:@localhost:5432/lomash_wood_dev?schema=auth&sslmode=prefer

# --- Redis ----------------------------------------------------------------------
REDIS_HOST=localhost
REDIS_PORT=6379
REDIS_PASSWORD=
REDIS_DB=0
REDIS_URL=redis://:@localhost:6379/0

BETTER_AUTH_SECRET=
BETTER_AUTH_URL=http://localhost:4001

STRIPE_SECRET_KEY=sk_test_
AWS_REGION=eu-west-2
AWS_ACCESS_KEY_ID=
AWS_SECRET_ACCESS_KEY=
TWILIO_AUTH_TOKEN=
SENTRY_DSN=
CORS_ALLOWED_ORIGINS=http://localhost:3000,http://localhost:3001
GRAFANA_URL=http://localhost:3100
"""

GATEWAY = """
NODE_ENV=development
PORT=3000
API_GATEWAY_URL=http://localhost:3000
AUTH_SERVICE_URL=http://localhost:3001
PRODUCT_SERVICE_URL=http://localhost:3002
ORDER_PAYMENT_SERVICE_URL=http://localhost:3003
APPOINTMENT_SERVICE_URL=http://localhost:3004
CONTENT_SERVICE_URL=http://localhost:3005
CUSTOMER_SERVICE_URL=http://localhost:3006
NOTIFICATION_SERVICE_URL=http://localhost:3007
ANALYTICS_SERVICE_URL=http://localhost:3008
JWT_SECRET=your_super_secret_jwt_key_here_min_32_chars
REDIS_URL=redis://localhost:6379
REDIS_HOST=localhost
REDIS_PORT=6379
REDIS_PASSWORD=
REDIS_DB=0
LOG_FILE_PATH=./logs
CSRF_SECRET=your_csrf_secret_here
STRIPE_SECRET_KEY=sk_test_your_stripe_secret_key_here
AWS_ACCESS_KEY_ID=your_aws_access_key_id
AWS_SECRET_ACCESS_KEY=your_aws_secret_access_key
CORS_ORIGINS=http://localhost:3000,http://localhost:5173
SENTRY_DSN=https://your_sentry_dsn_here@sentry.io/project
"""

SERVICES = {
    "auth-service": """NODE_ENV=development
PORT=4001
SERVICE_BASE_URL=http://localhost:4001
SERVICE_NAME=auth-service

DATABASE_URL=postgresql://postgres:Yaksh@2610@localhost:5432/lomash_wood_auth?schema=public
DIRECT_URL=postgresql://postgres:Yaksh@2610@localhost:5432/lomash_wood_auth?schema=public
DATABASE_CONNECTION_LIMIT=10

REDIS_URL=redis://localhost:6379/0
REDIS_PASSWORD=
REDIS_KEY_PREFIX=lomash:auth:

BETTER_AUTH_SECRET=REPLACE_WITH_64_CHAR_SECRET
BETTER_AUTH_URL=http://localhost:4001
JWT_SECRET=your-super-secret-jwt-key-change-this-in-production

SMTP_HOST=smtp.mailtrap.io
SMTP_PORT=587
SMTP_USER=REPLACE_WITH_SMTP_USER
SMTP_PASS=REPLACE_WITH_SMTP_PASS
LOG_FILE_PATH=
SENTRY_DSN=
INTERNAL_API_KEY=
CUSTOMER_SERVICE_URL=http://localhost:4006
TEST_DATABASE_URL=postgresql://postgres:Yaksh@2610@localhost:5432/lomash_wood_auth_test?schema=public
TEST_REDIS_URL=redis://localhost:6379/1
""",
    "product-service": """NODE_ENV=development
PORT=4002

# the password has a '#', an '@' and a quote: the value is double-quoted
DATABASE_URL="postgresql://postgres:p#ss@w'rd@localhost:5432/lomash_wood_products?schema=public"
DIRECT_URL="postgresql://postgres:p#ss@w'rd@localhost:5432/lomash_wood_products?schema=public"

REDIS_HOST=localhost
REDIS_PORT=6379
REDIS_PASSWORD=
REDIS_DB=1
JWT_SECRET=your-super-secret-jwt-key-change-this-in-production
AWS_ACCESS_KEY_ID=
AWS_SECRET_ACCESS_KEY=
AUTH_SERVICE_URL=http://localhost:4001
ORDER_SERVICE_URL=http://localhost:4003
KAFKA_SASL_PASSWORD=
INTERNAL_API_KEY=kept-as-written-not-a-placeholder""",  # no final newline
    "order-payment-service": """NODE_ENV=development
PORT=4003
HOST=localhost
DATABASE_URL='postgresql://postgres:$ecret"q@1@localhost:5432/lomash_wood_orders?schema=public'
DB_HOST=localhost
DB_PORT=5432
DB_NAME=lomash_wood_orders
DB_USER=postgres
DB_PASSWORD='$ecret"q@1'
DB_SCHEMA=public
REDIS_URL=redis://localhost:6379
REDIS_HOST=localhost
REDIS_PORT=6379
REDIS_PASSWORD=
REDIS_DB=0
JWT_SECRET=your-super-secret-jwt-key-change-this-in-production
SESSION_SECRET=changeme
STRIPE_SECRET_KEY=sk_test_51xxxxxxxxxxxxxxxxxxxxxxxxxxxxx
STRIPE_WEBHOOK_SECRET=whsec_xxxxxxxxxxxxxxxxxxxxxxxxxxxxx
SMTP_HOST=smtp.gmail.com
SMTP_PORT=587
AWS_ENDPOINT_URL=https://s3.eu-west-2.amazonaws.com
AWS_ACCESS_KEY_ID=AKIAIOSFODNN7EXAMPLE
AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY
QUEUE_REDIS_URL=redis://localhost:6379
AUTH_SERVICE_URL=http://localhost:4001
PRODUCT_SERVICE_URL=http://localhost:4002
CORS_ORIGIN=http://localhost:3000,http://localhost:3001
""",
    "appointment-service": """NODE_ENV=development
PORT=4004
DATABASE_URL="postgresql://postgres:Yaksh@2610@localhost:5432/lomash_wood_appointments?schema=public"
REDIS_HOST=localhost
REDIS_PORT=6379
REDIS_PASSWORD=
REDIS_DB=0
JWT_SECRET=your-super-secret-jwt-key-change-this-in-production
SMTP_HOST=smtp.gmail.com
SMTP_PORT=587
TWILIO_AUTH_TOKEN=your-twilio-auth-token
ORDER_SERVICE_URL=http://localhost:4003
""",
    # CRLF endings, trailing blanks after values, a quoted URL followed by blanks
    "content-service": (
        "NODE_ENV=development                           \n"
        "PORT=4005\n"
        "LOG_LEVEL=info                            \n"
        'DATABASE_URL="postgresql://postgres:changeme@localhost:5432/'
        'lomash_wood_content?schema=public"\n'
        'DATABASE_SHADOW_URL="postgresql://postgres:changeme@localhost:5432/'
        'lomash_wood_content_shadow?schema=public"\n'
        "REDIS_HOST=localhost\n"
        "REDIS_PORT=6379\n"
        "REDIS_PASSWORD=\n"
        "REDIS_DB=3                                \n"
        'REDIS_URL="redis://localhost:6379/3"          \n'
        "JWT_SECRET=your-super-secret-jwt-key-change-this-in-production\n"
        "BETTER_AUTH_URL=http://localhost:4001  \n"
        "CORS_ORIGIN=http://localhost:3000         \n"
    ).replace("\n", "\r\n"),
    "customer-service": """NODE_ENV=development
SERVICE_NAME=customer-service
PORT=4006
DATABASE_URL=postgresql://postgres:@localhost:5432/lomash_wood_customers?schema=public
REDIS_HOST=localhost
REDIS_PORT=6379
REDIS_PASSWORD=
REDIS_DB=3
JWT_SECRET=your-super-secret-jwt-key-change-this-in-production
AUTH_SERVICE_URL=http://localhost:4001
AUTH_SERVICE_INTERNAL_TOKEN=your_internal_service_token_here
""",
    "notification-service": """NODE_ENV=development
PORT=4007
DATABASE_URL=`postgresql://postgres:p%40ss@localhost:5432/lomash_wood_notifications?schema=public`
REDIS_HOST=localhost
REDIS_PORT=6379
REDIS_PASSWORD=
REDIS_DB=4
SMTP_HOST=smtp.mailtrap.io
SMTP_PORT=587
SMTP_PASS=your_smtp_password
FIREBASE_PRIVATE_KEY="-----BEGIN PRIVATE KEY-----\\nYOUR_KEY_HERE\\n-----END PRIVATE KEY-----\\n"
JWT_SECRET=your-super-secret-jwt-key-change-this-in-production
TEMPLATE_BASE_URL=http://localhost:4007/templates
AUTH_SERVICE_URL=http://localhost:4001
""",
    "analytics-service": """NODE_ENV=development
PORT=4008
export DATABASE_URL="postgresql://postgres:an@lytics#1@localhost:5432/lomash_wood_analytics?schema=public"  # the events store
REDIS_HOST=localhost
REDIS_PORT=6379
REDIS_PASSWORD=
REDIS_DB=6
EVENT_BUS_PASSWORD=
INTERNAL_SERVICE_SECRET=change-this-to-a-secure-random-secret
API_GATEWAY_URL=http://localhost:4000
CUSTOMER_SERVICE_URL=http://localhost:4006
""",
}


def drift(root: Path) -> None:
    """Rewrite every `.env.example` of the workspace at `root` in the drifted style."""
    (root / ".env.example").write_bytes(ROOT.lstrip("\n").encode())
    (root / "api-gateway" / ".env.example").write_bytes(GATEWAY.lstrip("\n").encode())
    for name, text in SERVICES.items():
        (root / "services" / name / ".env.example").write_bytes(text.encode())
