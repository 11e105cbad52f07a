"""The archive site's declaration (bot/core/feature.py)."""

from bot.core.feature import Feature

FEATURE = Feature(
    name="site",
    root_section="bot.site.config:parse_site",
    services=("bot.site.publish:publish_service",),
    web_routes=("bot.site.routes:add_routes",),  # last of all: the site catches every other GET path
    cli=(("site", "bot.site.cli:site"), ("serve", "bot.site.cli:serve")),
    # the farm's /farm/<team>/ leads to the site's farm page: one page, never two renderings
    provides=(("site_page", "bot.site.routes:built_page"),),
)
