from django.urls import path

from . import apis

urlpatterns = [
    path("users/<str:user_id>/credentials/", apis.CredentialListApi.as_view(), name="credential-list"),
    path("users/<str:user_id>/credentials/<str:provider>", apis.CredentialApi.as_view(), name="credential"),
    path(
        "users/<str:user_id>/credentials/<str:provider>/verify",
        apis.CredentialVerifyApi.as_view(),
        name="credential-verify",
    ),
]
