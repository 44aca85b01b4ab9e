from django.apps import AppConfig


class OAuthConfig(AppConfig):
    """The built-in OAuth 2.1 authorization server (django-oauth-toolkit) and the resource server's token checks."""

    name = "oauth"
    verbose_name = "OAuth"
