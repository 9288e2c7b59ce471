from django.apps import AppConfig


class PersonalitiesConfig(AppConfig):
    name = "personalities_app"
    verbose_name = "Personalities"
