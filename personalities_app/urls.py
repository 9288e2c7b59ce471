from django.urls import path

from .apis import (
    ChannelActivationApi,
    PersonalityDetailApi,
    PersonalityListApi,
    RelationshipProfileApi,
    UserSelectionApi,
)

urlpatterns = [
    path("personalities/", PersonalityListApi.as_view(), name="personality-list"),
    path("personalities/<str:slug>", PersonalityDetailApi.as_view(), name="personality-detail"),
    path("channels/<str:channel_id>/activation", ChannelActivationApi.as_view(), name="channel-activation"),
    path("users/<str:user_id>/selection", UserSelectionApi.as_view(), name="user-selection"),
    path("users/<str:user_id>/profiles/<str:slug>", RelationshipProfileApi.as_view(), name="user-profile"),
]
