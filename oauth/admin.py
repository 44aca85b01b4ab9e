"""DOT's admin (applications, grants, tokens), plus "end the grant": every access and refresh token the selected
rows' user gave their application, so the gate sees every stream of that grant line ended and closes it. DOT's own
"revoke" of an access token ends the streams opened with it (unless a newer token of the line exists); disabling a
user (Django's is_active) ends all of theirs."""

from __future__ import annotations

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.translation import ngettext
from oauth2_provider import admin as dot
from oauth2_provider.models import (
    get_access_token_model,
    get_application_model,
    get_refresh_token_model,
)

from oauth.grants import end_grant_lines


def _report(model_admin: admin.ModelAdmin, request: HttpRequest, ended: int) -> None:
    model_admin.message_user(
        request, ngettext("Ended %d grant (user and application).", "Ended %d grants.", ended) % ended
    )


@admin.action(description="End the grant: revoke every token of this user for this application")
def end_grants(model_admin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet) -> None:
    _report(model_admin, request, end_grant_lines(queryset.values_list("user_id", "application_id")))


class AccessTokenAdmin(dot.AccessTokenAdmin):
    actions = ("revoke_tokens", end_grants)


class RefreshTokenAdmin(dot.RefreshTokenAdmin):
    actions = ("revoke_tokens", end_grants)


class ApplicationAdmin(dot.ApplicationAdmin):
    actions = ("revoke_all_tokens",)

    @admin.action(description="Revoke every token of the selected applications (all users)")
    def revoke_all_tokens(self, request: HttpRequest, queryset: QuerySet) -> None:
        applications = list(queryset.values_list("pk", flat=True))
        lines = set(
            get_access_token_model()
            .objects.filter(application_id__in=applications)
            .values_list("user_id", "application_id")
        ) | set(
            get_refresh_token_model()
            .objects.filter(application_id__in=applications, revoked__isnull=True)
            .values_list("user_id", "application_id")
        )
        _report(self, request, end_grant_lines(lines))


for model, model_admin in (
    (get_access_token_model(), AccessTokenAdmin),
    (get_refresh_token_model(), RefreshTokenAdmin),
    (get_application_model(), ApplicationAdmin),
):
    admin.site.unregister(model)
    admin.site.register(model, model_admin)
