from django.urls import path

from .apis import GenerateApi, JobApi
from .health import HealthApi

urlpatterns = [
    path("health", HealthApi.as_view(), name="health"),
    path("ai/generate", GenerateApi.as_view(), name="ai-generate"),
    path("ai/jobs/<uuid:job_id>", JobApi.as_view(), name="ai-job"),
]
