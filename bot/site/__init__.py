"""The notes archive site: a static site built from notes/, served by sigbot or any static host.

- sources.py: what is in the notes folder (meetings, published feature files), cheaply re-read.
- markup.py: minutes Markdown and MeetBot logs to safe HTML.
- search.py: the prebuilt full-text index the search page's script reads.
- build.py: renders every page, re-rendering only what changed since the last build.
- publish.py: after each meeting, rebuild and commit/push the notes repository.
- routes.py, cli.py, config.py: the web server's pages, `sigbot site`, the `[site]` config section.
"""
