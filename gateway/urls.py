from django.urls import path

from .apis import GenerateApi, JobApi
from .health import health

urlpatterns = [
    path("health", health, name="health"),
    path("ai/generate", GenerateApi.as_view(), name="ai-generate"),
    path("ai/jobs/<uuid:job_id>", JobApi.as_view(), name="ai-job"),
]
