from django.urls import path

from .apis import UserMemoriesApi

urlpatterns = [
    path("users/<str:user_id>/memories", UserMemoriesApi.as_view(), name="user-memories"),
]
