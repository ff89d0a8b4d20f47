"""Remote-access issuance for homeoffice: the directory client, and later the CA,
WireGuard and terminal-server accounts. A plain library: no Flask, no database session."""
