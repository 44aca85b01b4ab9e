from django.apps import AppConfig


class DocsProxyConfig(AppConfig):
    name = "docs_proxy"
    verbose_name = "AWS documentation proxy"
