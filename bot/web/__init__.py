"""sigbot's one web server (aiohttp): the archive, feeds, reports and webhooks."""
