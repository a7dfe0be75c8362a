"""The .env files: parse, merge and write them as Node's dotenv reads them; overlays."""
