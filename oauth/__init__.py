"""OAuth 2.1 for awsmcp: the built-in authorization server and the resource-server checks."""
