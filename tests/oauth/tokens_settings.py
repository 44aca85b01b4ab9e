"""Test settings with django-oauth-toolkit installed, until the built-in AS's settings land (stand-in)."""

from awsmcp.test_settings import *  # noqa: F403
from awsmcp.test_settings import INSTALLED_APPS

INSTALLED_APPS = [*INSTALLED_APPS, "oauth2_provider", "oauth"]
OAUTH2_PROVIDER = {"COMPLIANT_BCP_RFC9700_TOKEN_STORAGE": True}
