from servers.ircd import ircd, ircd_factory  # noqa: F401
from servers.services import services  # noqa: F401
from servers.synapse import synapse  # noqa: F401
