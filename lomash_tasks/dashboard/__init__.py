"""`inv dashboard`: the whole local stack on one live page, served on 127.0.0.1.

    snapshot.py   the page's data, typed: parts, services (with migrations, Redis keys, .env
                  check), AWS resources, the last `inv setup`, recent events; renders to JSON
                  with every string masked as the terminal masks it
    collect.py    reads it through the tasks' own functions (stack/services status, env check,
                  the setup summary) and `probe.py`, a short-lived child for what needs the
                  database, Redis and AWS clients (db.status, cache.stats, aws.status)
    live.py       one collector and one log follower for every open page; pushes changes
    actions.py    restart, migrate, replay, flush, reset: the tasks themselves, run as `lomash`
    server.py     the HTTP server (standard library): token, Host and Origin checks, WebSocket
    websocket.py  the server side of RFC 6455, as much as the page needs
    assets/       the page (HTML, CSS, plain JavaScript; nothing fetched from elsewhere)

Kept free of imports: `inv --list` loads the task module, not this package.
"""
